package soak

import (
	"fmt"
	"strings"
	"testing"
)

// The faults asked for are all made, each process in turn, kills and
// freezes interleaved so that neither kind bunches at one end of the load.
func TestPlan_TakesEveryProcessInTurn(t *testing.T) {
	r := &run{ledger: &service{name: "ledger"}, banks: []*service{{name: "bank-1"}, {name: "bank-2"}}}
	for _, c := range []struct {
		kills, freezes int
		want           string
	}{
		{0, 0, ""},
		{1, 0, "kill bank-1, kill ledger"},
		{0, 1, "freeze bank-1, freeze ledger"},
		{2, 1, "kill bank-1, freeze bank-1, kill ledger, freeze ledger, kill bank-2, kill ledger"},
		{1, 2, "kill bank-1, freeze bank-1, kill ledger, freeze ledger, freeze bank-2, freeze ledger"},
	} {
		r.cfg.Kills, r.cfg.Freezes = c.kills, c.freezes
		var got []string
		for _, f := range r.plan() {
			got = append(got, fmt.Sprintf("%s %s", map[faultKind]string{faultKill: "kill", faultFreeze: "freeze"}[f.kind], f.target.name))
		}
		if strings.Join(got, ", ") != c.want {
			t.Errorf("kills %d, freezes %d: %s, want %s", c.kills, c.freezes, strings.Join(got, ", "), c.want)
		}
	}
}

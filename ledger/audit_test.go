package ledger

import (
	"math"
	"strings"
	"testing"
)

// The audit names the loss accounts' total as the guarantee fund it is,
// and says in words whether the parts of circulation add up to it, even
// when they overflow.
func TestAuditReport_WriteTextAddsUpCirculation(t *testing.T) {
	for _, tc := range []struct {
		name string
		tot  Totals
		want []string
	}{
		{"conserved", Totals{Circulation: 100, Intermediaries: 60, Wallets: 20, Escrow: 5, Loss: 15},
			[]string{"guarantee fund   15 yen", "together         100 yen, equal to circulation"}},
		{"a yen short", Totals{Circulation: 100, Intermediaries: 60, Wallets: 20, Escrow: 5, Loss: 14},
			[]string{"together         99 yen, NOT equal to circulation"}},
		{"overflowing", Totals{Circulation: 1, Intermediaries: math.MaxInt64, Wallets: math.MaxInt64, Escrow: 2},
			[]string{"together         18446744073709551616 yen, NOT equal to circulation"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			(&AuditReport{Totals: tc.tot}).WriteText(&out)
			for _, want := range tc.want {
				if !strings.Contains(out.String(), want) {
					t.Errorf("lacks %q:\n%s", want, out.String())
				}
			}
			if strings.Contains(out.String(), " loss ") {
				t.Errorf("still labels the guarantee fund loss:\n%s", out.String())
			}
		})
	}
}

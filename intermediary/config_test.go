package intermediary

import (
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

func TestConfig_ValidateNamesEveryProblem(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"empty", Config{}, []string{"bank's id", "no ledger", "no path", "holder key", "admin token"}},
		{"id that breaks addresses", Config{ID: "bank@1"}, []string{"bank's id"}},
		{"id too long", Config{ID: ledger.AccountID("b" + strings.Repeat("x", 40))}, []string{"bank's id"}},
		{"duplicate tiers", Config{ID: "b", Tiers: []Tier{{Name: "a"}, {Name: "a"}}}, []string{`tier "a"`}},
		{"float target under the low mark", Config{ID: "b", FloatLow: 10, FloatTarget: 5}, []string{"float target"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

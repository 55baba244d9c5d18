package ledger

import (
	"context"
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

// The recount of every account agrees with the running totals after
// issuance, transfers across intermediaries and redemption, and both
// balance.
func TestRecount_AgreesWithRunningTotals(t *testing.T) {
	ctx := context.Background()
	l, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, id := range []AccountID{"bank-a", "bank-b"} {
		if _, err := l.OpenAccount(ctx, "open-"+string(id), AccountSpec{ID: id, Kind: KindIntermediary}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Issue(ctx, "issue-"+string(id), id, 1_000_000); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.OpenAccount(ctx, "open-w", AccountSpec{ID: "w", Kind: KindWallet, Intermediary: "bank-a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Transfer(ctx, "t1", "bank-b", "w", 1234); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Redeem(ctx, "r1", "bank-a", 5000); err != nil {
		t.Fatal(err)
	}
	running, counted := l.Recount()
	if running != counted || !counted.Conserved() {
		t.Errorf("running %+v, counted %+v", running, counted)
	}
	if counted.Circulation != 1_995_000 || counted.Wallets != 1234 {
		t.Errorf("counted %+v", counted)
	}
}

package intermediary_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// noSettlement is a central ledger that settles no offline vouchers, as a
// replicated ledger answers until its settlement is replicated.
type noSettlement struct{ intermediary.Offline }

func (noSettlement) Certify(context.Context, ed25519.PublicKey) (settlement.Terms, error) {
	return settlement.Terms{}, settlement.ErrOfflineDisabled
}

// A bank whose ledger settles no offline vouchers still opens and serves
// payments; its wallets are told plainly that it offers no purses.
func TestBank_LedgerWithoutOfflineSettlement(t *testing.T) {
	n := newTestNet(t, 1, func(c *intermediary.Config) {
		c.Offline, c.OfflineKey = noSettlement{}, newKey(t)
	})
	alice := n.register("bank-1", "Alice", "P-ALICE")
	if _, err := alice.Withdraw(n.ctx, "", 1_000); err != nil {
		t.Fatalf("a bank without offline settlement did not serve a withdrawal: %v", err)
	}
	_, err := alice.ProvisionPurse(n.ctx, "", newPurse(t))
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeOfflineDisabled {
		t.Fatalf("provisioning a purse answered %v, want offline_disabled", err)
	}
}

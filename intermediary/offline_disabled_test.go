package intermediary_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// noSettlement is a central ledger that settles no offline vouchers.
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

// settlesLater is a replicated central ledger between leaders: its first
// answers to a bank's certification are not_leader.
type settlesLater struct {
	intermediary.Offline
	refusals atomic.Int32
}

func (s *settlesLater) Certify(ctx context.Context, key ed25519.PublicKey) (settlement.Terms, error) {
	if s.refusals.Add(-1) >= 0 {
		return settlement.Terms{}, fmt.Errorf("no settler yet: %w", ledger.ErrNotLeader)
	}
	return s.Offline.Certify(ctx, key)
}

// A bank started while a replicated ledger elects a leader, or while the
// new leader opens settlement, asks again and opens with its purses on.
func TestBank_CertifiesOnceTheLedgerSettles(t *testing.T) {
	var later *settlesLater
	n := newOfflineNet(t, 0, offline.DefaultPolicy())
	n.addBank("bank-1", func(c *intermediary.Config) {
		later = &settlesLater{Offline: c.Offline}
		later.refusals.Store(3)
		c.Offline = later
	})
	if later.refusals.Load() >= 0 {
		t.Fatalf("the bank opened without asking again: %d refusals left", later.refusals.Load())
	}
	alice := n.register("bank-1", "Alice", "P-ALICE")
	if _, err := alice.Withdraw(n.ctx, "", 1_000); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.ProvisionPurse(n.ctx, "", newPurse(t)); err != nil {
		t.Fatalf("a purse at a bank certified after a wait: %v", err)
	}
}

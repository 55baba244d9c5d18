package settlement

import (
	"context"
	"crypto/ed25519"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// Terms are what a bank needs to provision purses: its certificate from
// the root, the root key purses trust, and the sandbox's offline policy.
type Terms struct {
	BankCert offline.BankCert
	RootKey  ed25519.PublicKey
	Policy   offline.Policy
}

// Bank is the settlement service as one intermediary uses it, in one
// process; the network client offers the same methods.
type Bank struct {
	s  *Settler
	id ledger.AccountID
}

// ForBank returns the settlement service as bank uses it.
func (s *Settler) ForBank(bank ledger.AccountID) *Bank { return &Bank{s: s, id: bank} }

// Certify has the root certify the bank's offline key and returns the terms.
func (b *Bank) Certify(_ context.Context, key ed25519.PublicKey) (Terms, error) {
	c, err := b.s.CertifyBank(b.id, key)
	if err != nil {
		return Terms{}, err
	}
	return Terms{BankCert: c, RootKey: b.s.RootKey(), Policy: b.s.Policy()}, nil
}

// RegisterDevice registers a device the bank certified; see Settler.RegisterDevice.
func (b *Bank) RegisterDevice(ctx context.Context, cert offline.DeviceCert, wallet ledger.AccountID) (ledger.AccountID, error) {
	return b.s.RegisterDevice(ctx, b.id, cert, wallet)
}

// Reconcile hands in a device's upload; see Settler.Reconcile.
func (b *Bank) Reconcile(ctx context.Context, up Upload) (Report, error) {
	return b.s.Reconcile(ctx, b.id, up)
}

// Revocations returns the current signed revocation list.
func (b *Bank) Revocations(context.Context) (offline.RevocationList, error) {
	return b.s.Revocations(), nil
}

// RetireDevice revokes a device its owner reported lost; see Settler.RetireDevice.
func (b *Bank) RetireDevice(ctx context.Context, serial offline.Serial) (DeviceInfo, error) {
	return b.s.RetireDevice(ctx, b.id, serial)
}

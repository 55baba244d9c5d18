package ledgerhttp

import (
	"context"
	"crypto/ed25519"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

var (
	_ intermediary.Offline = (*settlement.Bank)(nil)
	_ intermediary.Offline = (*Client)(nil)
)

// TestOffline_SettlementOverHTTP runs a purse payment between two banks'
// devices through the network client and checks it settles once.
func TestOffline_SettlementOverHTTP(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := ledger.Open(dir, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	keys, public := map[ledger.AccountID]ed25519.PrivateKey{}, map[ledger.AccountID]ed25519.PublicKey{}
	for _, id := range []ledger.AccountID{"bank-a", "bank-b"} {
		pub, priv, _ := ed25519.GenerateKey(nil)
		keys[id], public[id] = priv, pub
		mustOK(t)(l.OpenAccount(ctx, "open-"+string(id), ledger.AccountSpec{ID: id, Kind: ledger.KindIntermediary}))
		mustOK(t)(l.Issue(ctx, "issue-"+string(id), id, 1_000_000))
	}
	st, err := settlement.Open(ctx, l, settlement.Config{Policy: offline.DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(NewServer(l, public, ServerOptions{Settler: st}))
	defer srv.Close()
	a := NewClient(srv.URL, "bank-a", keys["bank-a"], srv.Client())
	b := NewClient(srv.URL, "bank-b", keys["bank-b"], srv.Client())

	_, otherKey, _ := ed25519.GenerateKey(nil)
	if _, err := a.Certify(ctx, otherKey.Public().(ed25519.PublicKey)); settlement.ErrorCode(err) != settlement.ErrBadCertificate.Code {
		t.Fatalf("certified a key the bank does not sign in with: %v", err)
	}
	payer := provision(t, a, keys["bank-a"], "w-alice")
	payee := provision(t, b, keys["bank-b"], "w-bob")
	mustOK(t)(a.Transfer(ctx, "fund-1", "w-alice", settlement.EscrowAccount(payer.Serial()), 5_000))
	f := offline.FundingReceipt{Serial: payer.Serial(), Seq: 1, Amount: 5_000, Time: time.Now()}
	f.Sign(keys["bank-a"])
	if err := payer.Fund(f); err != nil {
		t.Fatal(err)
	}
	q, _ := payee.Request(1_200, time.Now())
	v, err := payer.Pay(q, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := payee.Accept(v, time.Now()); err != nil {
		t.Fatal(err)
	}
	rep, err := b.Reconcile(ctx, settlement.Upload{Device: payee.Serial(), Received: [][]byte{v.Marshal()}})
	if err != nil || rep.Settled != 1 || rep.Vouchers[0].Hash != v.Hash() {
		t.Fatalf("payee's upload: %+v %v", rep, err)
	}
	rep, err = a.Reconcile(ctx, settlement.Upload{Device: payer.Serial(), Sent: [][]byte{v.Marshal()}})
	if err != nil || rep.Duplicate != 1 {
		t.Fatalf("payer's upload: %+v %v", rep, err)
	}
	if bal, _ := l.Balance("w-bob"); bal != 11_200 {
		t.Errorf("payee holds %d, want 11200", bal)
	}
	if _, err := a.Reconcile(ctx, settlement.Upload{Device: payee.Serial()}); settlement.ErrorCode(err) != settlement.ErrNotYourDevice.Code {
		t.Errorf("bank-a handed in bank-b's device: %v", err)
	}
	crl, err := b.Revocations(ctx)
	if err != nil || crl.Verify(st.RootKey()) != nil || len(crl.Serials) != 0 {
		t.Errorf("revocations: %+v %v", crl, err)
	}
}

// provision opens a wallet at the bank and a purse certified for it.
func provision(t *testing.T, c *Client, bankKey ed25519.PrivateKey, wallet ledger.AccountID) *offline.Purse {
	t.Helper()
	ctx := context.Background()
	terms, err := c.Certify(ctx, bankKey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	mustOK(t)(c.OpenAccount(ctx, "open-"+string(wallet), ledger.AccountSpec{ID: wallet, Kind: ledger.KindWallet}))
	mustOK(t)(c.Transfer(ctx, "cash-"+string(wallet), c.ID(), wallet, 10_000))
	p, err := offline.NewPurse(terms.RootKey)
	if err != nil {
		t.Fatal(err)
	}
	var sn offline.Serial
	copy(sn[:], wallet)
	cert, err := offline.IssueDeviceCert(bankKey, offline.DeviceCert{Serial: sn, Key: p.PublicKey(), BankID: string(c.ID()),
		Limits: terms.Policy.Limits, Issued: time.Now(), Expires: time.Now().Add(terms.Policy.CertLifetime)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Install(offline.Chain{Bank: terms.BankCert, Device: cert}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterDevice(ctx, cert, wallet); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustOK(t *testing.T) func(ledger.Receipt, error) {
	return func(_ ledger.Receipt, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

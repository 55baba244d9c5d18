package replica

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// settle runs f on the leader's settler, asking again while the outcome
// is in doubt (no settler yet, or one that stopped or lost its leader),
// as a bank does through the ledger service.
func (g *group) settle(f func(st *settlement.Settler) error) {
	g.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		if _, r := g.leader(10 * time.Second); r != nil {
			if st := r.Settler(); st != nil {
				if err = f(st); err == nil {
					return
				}
				if !errors.Is(err, settlement.ErrStopped) && ledger.OutcomeOf(err) != ledger.InDoubt {
					g.t.Fatalf("settlement refused: %v", err)
				}
			}
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("no settling leader within 20 s (last: %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// holder is a wallet at a bank with a provisioned purse.
type holder struct {
	bank    ledger.AccountID
	key     ed25519.PrivateKey // its bank's offline key
	wallet  ledger.AccountID
	escrow  ledger.AccountID
	purse   *offline.Purse
	funding uint64
}

// Offline payments settle exactly once across failovers: what one leader
// settled, the next knows (its copy of the index is the group's), uploads
// repeated at a new leader settle nothing twice, and every replica ends
// with the same index.
func TestReplicas_OfflineSettlementSurvivesTheLeader(t *testing.T) {
	policy := offline.DefaultPolicy()
	g := newGroupWith(t, 3, &Offline{RootKey: filepath.Join(t.TempDir(), "root.key"),
		Settlement: settlement.Config{Policy: policy, GuaranteeFund: 1_000_000}})
	ctx := context.Background()
	keys := map[ledger.AccountID]ed25519.PrivateKey{}
	certs := map[ledger.AccountID]offline.BankCert{}
	for _, b := range []ledger.AccountID{"bank-a", "bank-b"} {
		if _, err := g.do(ctx, func(l *ledger.Ledger) (ledger.Receipt, error) {
			return l.OpenAccount(ctx, "open-"+string(b), ledger.AccountSpec{ID: b, Kind: ledger.KindIntermediary})
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := g.do(ctx, func(l *ledger.Ledger) (ledger.Receipt, error) { return l.Issue(ctx, "issue-"+string(b), b, 1_000_000) }); err != nil {
			t.Fatal(err)
		}
		_, keys[b], _ = ed25519.GenerateKey(rand.Reader)
		g.settle(func(st *settlement.Settler) (err error) {
			certs[b], err = st.CertifyBank(b, keys[b].Public().(ed25519.PublicKey))
			return err
		})
	}
	var root ed25519.PublicKey
	g.settle(func(st *settlement.Settler) error { root = st.RootKey(); return nil })
	ops := 0
	newHolder := func(bank ledger.AccountID, name string, cash int64) *holder {
		h := &holder{bank: bank, key: keys[bank], wallet: ledger.AccountID("w-" + name)}
		if _, err := g.do(ctx, func(l *ledger.Ledger) (ledger.Receipt, error) {
			return l.OpenAccount(ctx, "open-"+name, ledger.AccountSpec{ID: h.wallet, Kind: ledger.KindWallet, Intermediary: bank})
		}); err != nil {
			t.Fatal(err)
		}
		if cash > 0 {
			if _, err := g.do(ctx, func(l *ledger.Ledger) (ledger.Receipt, error) {
				return l.Transfer(ctx, "cash-"+name, bank, h.wallet, cash)
			}); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		if h.purse, err = offline.NewPurse(root); err != nil {
			t.Fatal(err)
		}
		var sn offline.Serial
		rand.Read(sn[:])
		now := time.Now()
		cert, err := offline.IssueDeviceCert(h.key, offline.DeviceCert{Serial: sn, Key: h.purse.PublicKey(), BankID: string(bank),
			Limits: policy.Limits, Issued: now, Expires: now.Add(policy.CertLifetime)})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.purse.Install(offline.Chain{Bank: certs[bank], Device: cert}, now); err != nil {
			t.Fatal(err)
		}
		g.settle(func(st *settlement.Settler) (err error) {
			h.escrow, err = st.RegisterDevice(ctx, bank, cert, h.wallet)
			return err
		})
		return h
	}
	fund := func(h *holder, amount int64) {
		ops++
		id := fmt.Sprintf("fund-%d", ops)
		if _, err := g.do(ctx, func(l *ledger.Ledger) (ledger.Receipt, error) {
			return l.Intermediary(h.bank).Transfer(ctx, id, h.wallet, h.escrow, amount)
		}); err != nil {
			t.Fatal(err)
		}
		h.funding++
		f := offline.FundingReceipt{Serial: h.purse.Serial(), Seq: h.funding, Amount: amount, Time: time.Now()}
		f.Sign(h.key)
		if err := h.purse.Fund(f); err != nil {
			t.Fatal(err)
		}
	}
	pay := func(from, to *holder, amount int64) {
		q, err := to.purse.Request(amount, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		v, err := from.purse.Pay(q, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := to.purse.Accept(v, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	sync := func(h *holder) {
		up := h.purse.Upload()
		u := settlement.Upload{Device: up.Serial, Counter: up.Counter, ReceivedBefore: up.ReceivedBefore,
			ReceivedTotal: up.ReceivedBefore + uint64(len(up.Received)), TotalKnown: true}
		for _, v := range up.Sent {
			u.Sent = append(u.Sent, v.Marshal())
		}
		for _, v := range up.Received {
			u.Received = append(u.Received, v.Marshal())
		}
		g.settle(func(st *settlement.Settler) error {
			rep, err := st.Reconcile(ctx, h.bank, u)
			if err != nil {
				return err
			}
			crl := st.Revocations()
			return h.purse.ApplySync(rep.Receipt, &crl)
		})
	}

	payer, payee := newHolder("bank-a", "payer", 100_000), newHolder("bank-b", "payee", 0)
	fund(payer, 50_000)
	paid := int64(0)
	for round := range 3 {
		for n := range 4 {
			amount := int64(1000*(round+1) + n)
			pay(payer, payee, amount)
			paid += amount
		}
		sync(payee) // settles this round's vouchers at this leader
		i, _ := g.leader(10 * time.Second)
		g.stop(i)
		sync(payer) // the same vouchers again, at the next leader: nothing twice
		g.start(i)
	}
	g.converge(10 * time.Second)
	for i, r := range g.replicas {
		for id, want := range map[ledger.AccountID]int64{payee.wallet: paid, payer.escrow: 50_000 - paid, payer.wallet: 50_000} {
			if got, err := r.Ledger().Balance(id); err != nil || got != want {
				t.Errorf("%s: %s holds %d (%v), want %d", g.peers[i].ID, id, got, err, want)
			}
		}
		if tot := r.Ledger().Totals(); !tot.Conserved() {
			t.Errorf("%s: money not conserved: %+v", g.peers[i].ID, tot)
		}
	}
	var first *settlement.Inspection
	for i := range g.replicas {
		g.stop(i)
		in, err := settlement.Inspect(filepath.Join(g.dirs[i], "ledger"))
		if err != nil {
			t.Fatalf("%s: %v", g.peers[i].ID, err)
		}
		if in.Summary.Settled != 12 || in.Summary.Pending != 0 || in.InDoubt != 0 {
			t.Errorf("%s's index: %d settled, %d pending, %d in doubt; want 12, 0, 0", g.peers[i].ID, in.Summary.Settled, in.Summary.Pending, in.InDoubt)
		}
		if first == nil {
			first = in
		} else if fmt.Sprint(in.Summary, in.Moves) != fmt.Sprint(first.Summary, first.Moves) {
			t.Errorf("%s's index differs from %s's:\n%+v %v\n%+v %v", g.peers[i].ID, g.peers[0].ID, in.Summary, in.Moves, first.Summary, first.Moves)
		}
		rep, err := ledger.Audit(filepath.Join(g.dirs[i], "ledger"))
		if err != nil || !rep.OK() {
			t.Errorf("%s audit: %v %+v", g.peers[i].ID, err, rep)
		}
	}
}

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
	"github.com/hashicorp/raft"
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

// offlineWorld is a replicated group that settles offline vouchers, with
// two certified banks and the purses the test makes.
type offlineWorld struct {
	g      *group
	ctx    context.Context
	policy offline.Policy
	keys   map[ledger.AccountID]ed25519.PrivateKey
	certs  map[ledger.AccountID]offline.BankCert
	root   ed25519.PublicKey
	ops    int
}

func newOfflineWorld(t *testing.T, tune func(*Config)) *offlineWorld {
	t.Helper()
	policy := offline.DefaultPolicy()
	off := &Offline{RootKey: filepath.Join(t.TempDir(), "root.key"), Settlement: settlement.Config{Policy: policy, GuaranteeFund: 1_000_000}}
	g := newTunedGroup(t, 3, func(c *Config) {
		c.Offline = off
		if tune != nil {
			tune(c)
		}
	})
	w := &offlineWorld{g: g, ctx: context.Background(), policy: policy,
		keys: map[ledger.AccountID]ed25519.PrivateKey{}, certs: map[ledger.AccountID]offline.BankCert{}}
	g.openBanks(w.ctx, 1_000_000)
	for _, b := range []ledger.AccountID{"bank-a", "bank-b"} {
		_, w.keys[b], _ = ed25519.GenerateKey(rand.Reader)
		g.settle(func(st *settlement.Settler) (err error) {
			w.certs[b], err = st.CertifyBank(b, w.keys[b].Public().(ed25519.PublicKey))
			return err
		})
	}
	g.settle(func(st *settlement.Settler) error { w.root = st.RootKey(); return nil })
	return w
}

func (w *offlineWorld) holder(bank ledger.AccountID, name string, cash int64) *holder {
	g, t, ctx := w.g, w.g.t, w.ctx
	t.Helper()
	h := &holder{bank: bank, key: w.keys[bank], wallet: ledger.AccountID("w-" + name)}
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
	if h.purse, err = offline.NewPurse(w.root); err != nil {
		t.Fatal(err)
	}
	var sn offline.Serial
	rand.Read(sn[:])
	now := time.Now()
	cert, err := offline.IssueDeviceCert(h.key, offline.DeviceCert{Serial: sn, Key: h.purse.PublicKey(), BankID: string(bank),
		Limits: w.policy.Limits, Issued: now, Expires: now.Add(w.policy.CertLifetime)})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.purse.Install(offline.Chain{Bank: w.certs[bank], Device: cert}, now); err != nil {
		t.Fatal(err)
	}
	g.settle(func(st *settlement.Settler) (err error) {
		h.escrow, err = st.RegisterDevice(ctx, bank, cert, h.wallet)
		return err
	})
	return h
}

func (w *offlineWorld) fund(h *holder, amount int64) {
	g, t, ctx := w.g, w.g.t, w.ctx
	t.Helper()
	w.ops++
	id := fmt.Sprintf("fund-%d", w.ops)
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

func (w *offlineWorld) pay(from, to *holder, amount int64) {
	t := w.g.t
	t.Helper()
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

// sync hands in what the purse holds at the leader and applies its answer.
func (w *offlineWorld) sync(h *holder) {
	w.g.t.Helper()
	up := h.purse.Upload()
	u := settlement.Upload{Device: up.Serial, Counter: up.Counter, ReceivedBefore: up.ReceivedBefore,
		ReceivedTotal: up.ReceivedBefore + uint64(len(up.Received)), TotalKnown: true}
	for _, v := range up.Sent {
		u.Sent = append(u.Sent, v.Marshal())
	}
	for _, v := range up.Received {
		u.Received = append(u.Received, v.Marshal())
	}
	w.g.settle(func(st *settlement.Settler) error {
		rep, err := st.Reconcile(w.ctx, h.bank, u)
		if err != nil {
			return err
		}
		crl := st.Revocations()
		return h.purse.ApplySync(rep.Receipt, &crl)
	})
}

// indexesAgree stops every replica and checks that each one's settlement
// index holds settled vouchers, none pending or in doubt, the same as the
// others', and that its journal audits clean.
func (w *offlineWorld) indexesAgree(settled int) {
	g, t := w.g, w.g.t
	t.Helper()
	var first *settlement.Inspection
	for i := range g.replicas {
		g.stop(i)
		in, err := settlement.Inspect(filepath.Join(g.dirs[i], "ledger"))
		if err != nil {
			t.Fatalf("%s: %v", g.peers[i].ID, err)
		}
		if in.Summary.Settled != settled || in.Summary.Pending != 0 || in.InDoubt != 0 {
			t.Errorf("%s's index: %d settled, %d pending, %d in doubt; want %d, 0, 0", g.peers[i].ID, in.Summary.Settled, in.Summary.Pending, in.InDoubt, settled)
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

// Offline payments settle exactly once across failovers: what one leader
// settled, the next knows (its copy of the index is the group's), uploads
// repeated at a new leader settle nothing twice, and every replica ends
// with the same index.
func TestReplicas_OfflineSettlementSurvivesTheLeader(t *testing.T) {
	w := newOfflineWorld(t, nil)
	g := w.g
	payer, payee := w.holder("bank-a", "payer", 100_000), w.holder("bank-b", "payee", 0)
	w.fund(payer, 50_000)
	paid := int64(0)
	for round := range 3 {
		for n := range 4 {
			amount := int64(1000*(round+1) + n)
			w.pay(payer, payee, amount)
			paid += amount
		}
		w.sync(payee) // settles this round's vouchers at this leader
		i, _ := g.leader(10 * time.Second)
		g.stop(i)
		w.sync(payer) // the same vouchers again, at the next leader: nothing twice
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
	w.indexesAgree(12)
}

// A follower away while the group settles vouchers and relays messages,
// its log compacted past what it missed, is sent a snapshot: its copy of
// the settlement index and its mailboxes are the group's, so it settles
// and delivers as the leader would once it leads.
func TestSnapshots_FollowerGetsTheIndexAndTheMailboxes(t *testing.T) {
	w := newOfflineWorld(t, tinySnapshots)
	g, ctx := w.g, w.ctx
	payer, payee := w.holder("bank-a", "payer", 100_000), w.holder("bank-b", "payee", 0)
	w.fund(payer, 50_000)
	i, _ := g.leader(10 * time.Second)
	away := (i + 1) % 3
	stoppedAt := g.replicas[away].Stats().AppliedIndex
	g.stop(away)
	for n := range 6 {
		w.pay(payer, payee, int64(100+n))
	}
	w.sync(payee)
	for n := range 3 {
		body := fmt.Appendf(nil, "rtp-%d", n)
		if _, err := g.do(ctx, func(l *ledger.Ledger) (ledger.Receipt, error) {
			return ledger.Receipt{}, l.Intermediary("bank-a").Send(ctx, "bank-b", body)
		}); err != nil {
			t.Fatal(err)
		}
	}
	g.pay(ctx, "filler", 30) // entries enough for snapshots to compact past the sends
	g.compactedPast(stoppedAt, 30*time.Second)
	g.start(away)
	g.converge(10 * time.Second)
	if st := g.replicas[away].SnapshotStats(); st.Restored == 0 {
		t.Fatalf("the follower caught up without a snapshot: %+v", st)
	}
	// It leads now: it delivers the messages and knows every voucher.
	r := g.replicas[away]
	for deadline := time.Now().Add(20 * time.Second); !r.Ledger().Leading(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never came to lead", g.peers[away].ID)
		}
		if j, cur := g.leader(10 * time.Second); cur != nil && j != away && cur.Role() == "leader" {
			// Handed on; an election may hand it elsewhere, then again.
			cur.raft.LeadershipTransferToServer(raft.ServerID(g.peers[away].ID), raft.ServerAddress(g.peers[away].Addr)).Error()
		}
	}
	recvCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msgs, err := r.Ledger().Intermediary("bank-b").Receive(recvCtx, 10)
	if err != nil || len(msgs) != 3 || string(msgs[0].Body) != "rtp-0" || string(msgs[2].Body) != "rtp-2" {
		t.Errorf("the restored leader delivered %d messages (%v)", len(msgs), err)
	}
	w.sync(payer) // the same vouchers again: settled by the snapshot's index, not twice
	if b, err := r.Ledger().Balance(payee.wallet); err != nil || b != 615 {
		t.Errorf("the payee holds %d (%v), want 615", b, err)
	}
	g.converge(10 * time.Second)
	w.indexesAgree(6)
}

package ledger

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// openTest opens a ledger in a fresh directory and, when the test ends,
// closes it and audits the directory, so every test also proves the journal
// it left behind replays cleanly and conserves money.
func openTest(t testing.TB, opts Options) *Ledger {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		mustAudit(t, dir)
	})
	return l
}

func mustAudit(t testing.TB, dir string) *AuditReport {
	t.Helper()
	rep, err := Audit(dir)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	if !rep.OK() {
		t.Fatalf("audit found problems: %v, damage: %v", rep.Problems, rep.Damage)
	}
	return rep
}

// fixture opens two intermediaries and wallets and funds them.
type fixture struct {
	t       testing.TB
	l       *Ledger
	ctx     context.Context
	n       int
	lastSeq uint64 // highest sequence committed through must
}

func newFixture(t testing.TB) *fixture { return newFixtureWith(t, Options{}) }

func newFixtureWith(t testing.TB, opts Options) *fixture {
	f := &fixture{t: t, l: openTest(t, opts), ctx: context.Background()}
	f.open("bank-a", KindIntermediary, "")
	f.open("bank-b", KindIntermediary, "")
	f.open("alice", KindWallet, "bank-a")
	f.open("bob", KindWallet, "bank-b")
	f.open("escrow-a", KindEscrow, "bank-a")
	f.open("loss", KindLoss, "")
	f.must(f.l.Issue(f.ctx, f.id(), "bank-a", 1_000_000))
	f.must(f.l.Issue(f.ctx, f.id(), "bank-b", 1_000_000))
	f.must(f.l.Transfer(f.ctx, f.id(), "bank-a", "alice", 10_000))
	f.must(f.l.Transfer(f.ctx, f.id(), "bank-b", "bob", 10_000))
	return f
}

func (f *fixture) id() string {
	f.n++
	return fmt.Sprintf("op-%d", f.n)
}

func (f *fixture) open(id AccountID, k Kind, inter AccountID) {
	f.t.Helper()
	f.must(f.l.OpenAccount(f.ctx, f.id(), AccountSpec{ID: id, Kind: k, Intermediary: inter}))
}

func (f *fixture) must(r Receipt, err error) Receipt {
	f.t.Helper()
	if err != nil {
		f.t.Fatalf("unexpected error: %v", err)
	}
	f.lastSeq = max(f.lastSeq, r.Seq)
	return r
}

func (f *fixture) balance(id AccountID) int64 {
	f.t.Helper()
	b, err := f.l.Balance(id)
	if err != nil {
		f.t.Fatalf("balance %s: %v", id, err)
	}
	return b
}

// rawDB opens the ledger's file with bbolt alone, checking nothing, as an
// attacker or a test damaging it would.
func rawDB(t testing.TB, dir string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

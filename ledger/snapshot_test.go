package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// Journal snapshots, tried against their contract: a snapshot holds
// records 1 to N exactly; restoring it keeps a journal that holds them,
// completes one that is a prefix of them, refuses one that disagrees and
// refuses a snapshot that is cut short or changed, and a refusal changes
// nothing.

// snapSource is a one-member group that has taken a few of every kind of
// operation; its log holds the entries, one record each. It returns the
// receipt of one of them, pay-3.
func snapSource(t *testing.T) (*fakeGroup, ledger.Receipt) {
	t.Helper()
	g := newFakeGroup(t, 1)
	l := g.members[0]
	l.Lead()
	ctx := context.Background()
	setupBanks(t, l, 1_000_000)
	mustDo(t)(l.OpenAccount(ctx, "open-w", ledger.AccountSpec{ID: "wallet-1", Kind: ledger.KindWallet, Intermediary: "bank-a", Holder: "holder-1"}))
	mustDo(t)(l.SetLimits(ctx, "limits-w", "wallet-1", ledger.Limits{Holding: 500_000}))
	var pay3 ledger.Receipt
	for i := range 20 {
		rc := mustDo(t)(l.Transfer(ctx, fmt.Sprintf("pay-%d", i), "bank-a", "bank-b", int64(i+1)))
		if i == 3 {
			pay3 = rc
		}
	}
	mustDo(t)(l.Batch(ctx, "batch-1", []ledger.Transfer{{From: "bank-a", To: "wallet-1", Amount: 10}, {From: "bank-b", To: "bank-a", Amount: 5}}))
	mustDo(t)(l.Redeem(ctx, "redeem-1", "bank-b", 7))
	if n, _ := l.Head(); n != uint64(len(g.log))+1 {
		t.Fatalf("the source's journal ends at %d after %d entries; want one record each", n, len(g.log))
	}
	return g, pay3
}

// snapshotOf writes l's journal, as it stands, as a snapshot.
func snapshotOf(t *testing.T, l *ledger.Ledger) []byte {
	t.Helper()
	seq, head, err := l.SnapshotPoint()
	if err != nil {
		t.Fatal(err)
	}
	if s, h := l.Head(); s != seq || h != head {
		t.Fatalf("the snapshot point %d differs from the head %d", seq, s)
	}
	var buf bytes.Buffer
	if err := l.WriteSnapshot(&buf, seq, head); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// follower opens a replica of the source's group that has applied the
// first n entries of its log.
func follower(t *testing.T, g *fakeGroup, n int) (*ledger.Ledger, string) {
	t.Helper()
	dir := t.TempDir()
	var l *ledger.Ledger
	var err error
	if l, err = ledger.Open(dir, ledger.Options{Replicator: alone{&l}, GenesisTime: reviewGenesis}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for _, e := range g.log[:n] {
		if err := l.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	return l, dir
}

// closeAndAudit closes l and audits its directory.
func closeAndAudit(t *testing.T, l *ledger.Ledger, dir string) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := ledger.Audit(dir)
	if err != nil || !rep.OK() {
		t.Fatalf("audit of %s: %v %+v", dir, err, rep)
	}
}

func sameHead(t *testing.T, what string, a, b *ledger.Ledger) {
	t.Helper()
	bs, bh := b.Head()
	atHead(t, what, a, bs, bh)
}

func atHead(t *testing.T, what string, l *ledger.Ledger, seq uint64, head [32]byte) {
	t.Helper()
	if s, h := l.Head(); s != seq || h != head {
		t.Errorf("%s: head %d %x, want %d %x", what, s, h[:6], seq, head[:6])
	}
}

// An empty replica (its genesis only) and one that holds a prefix are
// brought to the snapshot; the entries after it then apply as to any
// replica, and the result audits clean. Restoring the same snapshot
// again keeps the journal.
func TestSnapshot_RestoreCompletesAPrefix(t *testing.T) {
	g, pay3 := snapSource(t)
	src := g.members[0]
	snap := snapshotOf(t, src)
	n, nHead := src.Head()
	balances := map[ledger.AccountID]int64{}
	for _, id := range []ledger.AccountID{"bank-a", "bank-b", "wallet-1"} {
		balances[id], _ = src.Balance(id)
	}
	for _, k := range []int{0, 1, 5, len(g.log) - 1, len(g.log)} {
		t.Run(fmt.Sprintf("after %d entries", k), func(t *testing.T) {
			l, dir := follower(t, g, k)
			before, _ := l.Head()
			added, err := l.RestoreSnapshot(bytes.NewReader(snap))
			if err != nil {
				t.Fatal(err)
			}
			if added != n-before {
				t.Errorf("the restore added %d records, want %d (from %d to %d)", added, n-before, before, n)
			}
			atHead(t, "restored", l, n, nHead)
			if again, err := l.RestoreSnapshot(bytes.NewReader(snap)); err != nil || again != 0 {
				t.Errorf("the same snapshot again: %d records, %v; want it kept, 0 added", again, err)
			}
			st := l.SnapshotStats()
			if st.Restored != 2 || st.RecordsRestored != n-before {
				t.Errorf("stats %+v, want 2 restores adding %d records", st, n-before)
			}
			for id, want := range balances {
				if got, err := l.Balance(id); err != nil || got != want {
					t.Errorf("%s holds %d (%v), want %d", id, got, err, want)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "snapshot-restore.tmp")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the restore left its spool behind: %v", err)
			}
			// The group goes on: the restored replica applies the entries
			// after the snapshot, as Raft hands them on.
			mustDo(t)(src.Transfer(context.Background(), "pay-after-"+fmt.Sprint(k), "bank-a", "bank-b", 1))
			for _, e := range g.log[n-1:] {
				if err := l.Apply(e); err != nil {
					t.Fatalf("an entry after the snapshot: %v", err)
				}
			}
			sameHead(t, "after the entries that follow", l, src)
			// The operation ids the snapshot brought are known.
			l.Lead()
			if rc, err := l.Transfer(context.Background(), "pay-3", "bank-a", "bank-b", 4); err != nil || rc.Seq != pay3.Seq {
				t.Errorf("pay-3 asked again: %+v %v; want its first receipt, at %d", rc, err, pay3.Seq)
			}
			closeAndAudit(t, l, dir)
		})
	}
}

// A journal that already holds the snapshot's records, and more, keeps
// them all: nothing is lost or written again.
func TestSnapshot_JournalAheadIsKept(t *testing.T) {
	g, _ := snapSource(t)
	src := g.members[0]
	snap := snapshotOf(t, src)
	ctx := context.Background()
	for i := range 5 {
		mustDo(t)(src.Transfer(ctx, fmt.Sprintf("later-%d", i), "bank-a", "bank-b", 1))
	}
	l, dir := follower(t, g, len(g.log))
	seq, head := l.Head()
	added, err := l.RestoreSnapshot(bytes.NewReader(snap))
	if err != nil || added != 0 {
		t.Fatalf("restore into a journal ahead: %d records, %v; want kept", added, err)
	}
	if s, h := l.Head(); s != seq || h != head {
		t.Errorf("the journal moved from %d %x to %d %x", seq, head[:6], s, h[:6])
	}
	closeAndAudit(t, l, dir)
}

// A snapshot cut short anywhere, or with any byte changed, is refused as
// damaged, saying so, and the journal it was offered to is unchanged; the
// whole snapshot is still taken afterwards.
func TestSnapshot_DamagedIsRefusedAndChangesNothing(t *testing.T) {
	g, _ := snapSource(t)
	snap := snapshotOf(t, g.members[0])
	l, dir := follower(t, g, 3)
	seq, head := l.Head()
	unchanged := func(what string) {
		t.Helper()
		if s, h := l.Head(); s != seq || h != head {
			t.Fatalf("%s moved the journal from %d to %d", what, seq, s)
		}
		if _, err := os.Stat(filepath.Join(dir, "snapshot-restore.tmp")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left the spool behind: %v", what, err)
		}
	}
	refused := func(what string, b []byte, says string) {
		t.Helper()
		_, err := l.RestoreSnapshot(bytes.NewReader(b))
		if !errors.Is(err, ledger.ErrSnapshotDamaged) {
			t.Fatalf("%s: %v, want it refused as damaged", what, err)
		}
		if says != "" && !strings.Contains(err.Error(), says) {
			t.Errorf("%s: %q does not say %q", what, err, says)
		}
		unchanged(what)
	}
	// Every byte of the header and the genesis record, then a spread.
	next := func(i int) int {
		if i < 160 {
			return i + 1
		}
		return i + max(1, len(snap)/300)
	}
	for cut := 0; cut < len(snap); cut = next(cut) {
		refused(fmt.Sprintf("cut at %d of %d bytes", cut, len(snap)), snap[:cut], "")
	}
	refused("cut in the last record", snap[:len(snap)-1], "cut short inside record")
	last := bytes.LastIndex(snap, []byte("redeem-1")) - 51 // the last record: its header, then its id's length
	refused("cut after a record", snap[:last-1], "cut short after record")
	for i := 0; i < len(snap); i = next(i) {
		bad := bytes.Clone(snap)
		bad[i] ^= 0x20
		refused(fmt.Sprintf("byte %d changed", i), bad, "")
	}
	refused("bytes after the last record", append(bytes.Clone(snap), 0), "bytes follow its last record")
	refused("another stream", append([]byte("cbdc-replica-snap\x01"), make([]byte, 64)...), "does not start as a journal snapshot")
	if st := l.SnapshotStats(); st.Restored != 0 {
		t.Errorf("refusals counted as restores: %+v", st)
	}
	if _, err := l.RestoreSnapshot(bytes.NewReader(snap)); err != nil {
		t.Fatalf("the whole snapshot after the damaged ones: %v", err)
	}
	sameHead(t, "restored", l, g.members[0])
	closeAndAudit(t, l, dir)
}

// A journal that disagrees with the snapshot, wherever, is refused as
// forked, naming the first record that differs, and is unchanged: its
// records are never dropped for the snapshot's.
func TestSnapshot_ForkIsRefused(t *testing.T) {
	g, _ := snapSource(t)
	src := g.members[0]
	snap := snapshotOf(t, src)
	n, _ := src.Head()
	ctx := context.Background()
	cases := []struct {
		name   string
		common int    // entries of the source's log the journal shares
		extra  int    // operations of its own after them
		at     uint64 // the first record that differs
	}{
		{"shorter, from record 2", 0, 2, 2},
		{"longer, from record 2", 0, int(n) + 3, 2},
		{"shorter, from record 6", 4, 2, 6},
		{"as long, at the last record", len(g.log) - 1, 1, n},
		{"longer, at the last record", len(g.log) - 1, 5, n},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			var l *ledger.Ledger
			var err error
			l, err = ledger.Open(dir, ledger.Options{Replicator: alone{&l}, GenesisTime: reviewGenesis})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			for _, e := range g.log[:c.common] {
				if err := l.Apply(e); err != nil {
					t.Fatal(err)
				}
			}
			l.Lead()
			mustDo(t)(l.OpenAccount(ctx, "open-x", ledger.AccountSpec{ID: "bank-x", Kind: ledger.KindIntermediary}))
			if c.extra > 1 {
				mustDo(t)(l.Issue(ctx, "issue-x", "bank-x", 1_000))
			}
			for i := range c.extra - 2 {
				mustDo(t)(l.Redeem(ctx, fmt.Sprintf("mine-%d", i), "bank-x", 1))
			}
			l.Follow()
			seq, head := l.Head()
			_, err = l.RestoreSnapshot(bytes.NewReader(snap))
			if !errors.Is(err, ledger.ErrSnapshotForked) || !strings.Contains(err.Error(), fmt.Sprintf("at record %d:", c.at)) {
				t.Fatalf("a journal (%d records) forked at %d from the snapshot (%d): %v", seq, c.at, n, err)
			}
			if s, h := l.Head(); s != seq || h != head {
				t.Errorf("the refusal moved the journal from %d to %d", seq, s)
			}
			closeAndAudit(t, l, dir)
		})
	}
	t.Run("another genesis", func(t *testing.T) {
		l, err := ledger.Open(t.TempDir(), ledger.Options{Replicator: nobody{}, GenesisTime: reviewGenesis.Add(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if _, err := l.RestoreSnapshot(bytes.NewReader(snap)); !errors.Is(err, ledger.ErrSnapshotForked) || !strings.Contains(err.Error(), "at record 1:") {
			t.Errorf("a journal of another genesis: %v, want a fork at record 1", err)
		}
		if s, _ := l.Head(); s != 1 {
			t.Errorf("the journal moved to %d", s)
		}
	})
}

// A ledger leading when a snapshot brings it records stops leading: its
// sequencer's state no longer matches its view.
func TestSnapshot_RestoreWhileLeadingFollows(t *testing.T) {
	g, _ := snapSource(t)
	snap := snapshotOf(t, g.members[0])
	l, _ := follower(t, g, 2)
	l.Lead()
	if _, err := l.RestoreSnapshot(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if l.Leading() {
		t.Error("the ledger still leads after a snapshot moved its journal")
	}
	sameHead(t, "restored", l, g.members[0])
}

// A ledger that is not a replica takes no snapshot.
func TestSnapshot_OnlyReplicasRestore(t *testing.T) {
	g, _ := snapSource(t)
	snap := snapshotOf(t, g.members[0])
	l, err := ledger.Open(t.TempDir(), ledger.Options{GenesisTime: reviewGenesis})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.RestoreSnapshot(bytes.NewReader(snap)); err == nil || !strings.Contains(err.Error(), "only a replicated ledger") {
		t.Errorf("a lone ledger restored a snapshot: %v", err)
	}
}

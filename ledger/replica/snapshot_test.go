package replica

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/hashicorp/raft"
)

// Snapshots and log compaction, tried against their contract: a replica
// the compacted log has left behind is sent the journal and ends equal to
// the others; one whose journal is ahead of its snapshot keeps it; a
// snapshot that is damaged, holds an unknown section or disagrees with the
// journal is refused with nothing changed; and a snapshot at Raft index i
// holds exactly the journal that entries 1 to i make.

// tinySnapshots makes a group snapshot and compact its log every few
// entries, keeping almost none behind.
func tinySnapshots(c *Config) {
	c.SnapshotThreshold, c.TrailingLogs, c.SnapshotInterval = 8, 2, 20*time.Millisecond
}

// openBanks opens bank-a and bank-b at the group's leader and issues each
// float.
func (g *group) openBanks(ctx context.Context, float int64) {
	g.t.Helper()
	for _, id := range []ledger.AccountID{"bank-a", "bank-b"} {
		g.openBank(ctx, id, float)
	}
}

// openBank opens one intermediary at the group's leader and issues it
// float.
func (g *group) openBank(ctx context.Context, id ledger.AccountID, float int64) {
	g.t.Helper()
	if _, err := g.do(ctx, func(l *ledger.Ledger) (ledger.Receipt, error) {
		return l.OpenAccount(ctx, "open-"+string(id), ledger.AccountSpec{ID: id, Kind: ledger.KindIntermediary})
	}); err != nil {
		g.t.Fatal(err)
	}
	if _, err := g.do(ctx, func(l *ledger.Ledger) (ledger.Receipt, error) { return l.Issue(ctx, "issue-"+string(id), id, float) }); err != nil {
		g.t.Fatal(err)
	}
}

// pay makes n transfers from bank-a to bank-b, one at a time.
func (g *group) pay(ctx context.Context, prefix string, n int) {
	g.t.Helper()
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if _, err := g.do(ctx, func(l *ledger.Ledger) (ledger.Receipt, error) { return l.Transfer(ctx, id, "bank-a", "bank-b", 1) }); err != nil {
			g.t.Fatal(err)
		}
	}
}

// compactedPast waits until every running replica's Raft log has dropped
// the entries after index, so a replica that stopped there can only be
// sent a snapshot.
func (g *group) compactedPast(index uint64, within time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(within)
	for {
		done := true
		var firsts []uint64
		for _, r := range g.replicas {
			if r != nil {
				first := r.SnapshotStats().FirstLogIndex
				firsts = append(firsts, first)
				done = done && first > index+1
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("the logs still start at %v after %v; want past %d", firsts, within, index+1)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// auditAll stops every replica and audits its journal.
func (g *group) auditAll() {
	g.t.Helper()
	for i := range g.replicas {
		g.stop(i)
		if rep, err := ledger.Audit(filepath.Join(g.dirs[i], "ledger")); err != nil || !rep.OK() {
			g.t.Errorf("%s audit: %v %+v", g.peers[i].ID, err, rep)
		}
	}
}

func (g *group) sameBalances(ids ...ledger.AccountID) {
	g.t.Helper()
	for _, id := range ids {
		var bals []int64
		for _, r := range g.replicas {
			b, err := r.Ledger().Balance(id)
			if err != nil {
				g.t.Errorf("%s: %v", id, err)
			}
			bals = append(bals, b)
		}
		if len(slices.Compact(slices.Clone(bals))) != 1 {
			g.t.Errorf("%s holds %v on the replicas", id, bals)
		}
	}
}

// waitHead waits until l's journal reaches record seq.
func (g *group) waitHead(l *ledger.Ledger, seq uint64, within time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(within)
	for s, _ := l.Head(); s < seq; s, _ = l.Head() {
		if time.Now().After(deadline) {
			g.t.Fatalf("the journal is at record %d after %v; want %d", s, within, seq)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A follower stopped while the group takes many entries, its log
// compacting every few, cannot catch up from the log: restarted, it is
// sent a snapshot (its journal gains records from a restore), then the
// log after it, and ends with the others' head and a clean audit.
func TestSnapshots_FollowerLeftBehindIsSentASnapshot(t *testing.T) {
	g := newTunedGroup(t, 3, tinySnapshots)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g.openBanks(ctx, 1_000_000)
	i, _ := g.leader(10 * time.Second)
	away := (i + 1) % 3
	g.converge(10 * time.Second)
	left := g.replicas[away].Stats().LastLogIndex
	awaySeq, _ := g.replicas[away].Ledger().Head()
	g.stop(away)
	g.pay(ctx, "away", 100)
	g.compactedPast(left, 30*time.Second)

	g.start(away)
	g.converge(30 * time.Second)
	if st := g.replicas[away].SnapshotStats(); st.RecordsRestored == 0 {
		t.Fatalf("the follower caught up without a snapshot: %+v (it stopped at index %d)", st, left)
	}
	g.pay(ctx, "back", 20) // and it follows the log after it
	g.converge(10 * time.Second)
	// Raft notes the snapshot once Restore returns, before it takes the
	// next entry; by now it has.
	st := g.replicas[away].SnapshotStats()
	if st.LastIndex <= left {
		t.Errorf("the follower's latest snapshot is at index %d, not past where it stopped, %d", st.LastIndex, left)
	}
	t.Logf("stopped at index %d, record %d; sent a snapshot at index %d adding %d records", left, awaySeq, st.LastIndex, st.RecordsRestored)
	g.sameBalances("bank-a", "bank-b")
	if b, _ := g.replicas[away].Ledger().Balance("bank-b"); b != 1_000_000+120 {
		t.Errorf("the follower's bank-b holds %d, want %d", b, 1_000_000+120)
	}
	g.auditAll()
}

// A replica whose data directory is lost is started again empty while
// payments go on; the log it would need is long compacted, so it is
// rebuilt from a snapshot and the log after it. Every acknowledged
// payment is in its books and its audit is clean.
func TestSnapshots_WipedReplicaRebuiltFromSnapshotAndLog(t *testing.T) {
	g := newTunedGroup(t, 3, tinySnapshots)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const float = 1_000_000_000
	g.openBanks(ctx, float)
	i, _ := g.leader(10 * time.Second)
	wiped := (i + 2) % 3
	g.stop(wiped)
	if err := os.RemoveAll(g.dirs[wiped]); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		moved = map[ledger.AccountID]int64{}
	)
	stop := g.payUnderLoad(ctx, 2, func(p payment) {
		mu.Lock()
		moved[p.from] -= p.amount
		moved[p.to] += p.amount
		mu.Unlock()
	})
	g.pay(ctx, "before", 30)
	g.compactedPast(2, 30*time.Second) // not even the bootstrap entry is left
	g.start(wiped)                     // payments still flowing
	g.waitHead(g.replicas[wiped].Ledger(), 50, 30*time.Second)
	g.pay(ctx, "during", 10)
	stop()
	if t.Failed() {
		return
	}
	g.converge(30 * time.Second)
	st := g.replicas[wiped].SnapshotStats()
	if st.RecordsRestored == 0 {
		t.Fatalf("the wiped replica was not rebuilt from a snapshot: %+v", st)
	}
	t.Logf("rebuilt from a snapshot adding %d records, then the log", st.RecordsRestored)
	for id, d := range map[ledger.AccountID]int64{"bank-a": moved["bank-a"] - 40, "bank-b": moved["bank-b"] + 40} {
		want := float + d
		if got, _ := g.replicas[wiped].Ledger().Balance(id); got != want {
			t.Errorf("the rebuilt replica's %s holds %d, want %d from the acknowledged payments", id, got, want)
		}
	}
	g.sameBalances("bank-a", "bank-b")
	g.auditAll()
}

// A replica restarted with a journal ahead of its latest snapshot (it
// applied entries after it) keeps its journal: Raft restores the snapshot
// at start-up, the journal already holds it, nothing is lost or written
// again, and the entries after it, replayed, are passed over.
func TestSnapshots_JournalAheadOfTheSnapshotIsKept(t *testing.T) {
	g := newGroup(t, 3)
	ctx := context.Background()
	g.openBanks(ctx, 1_000)
	g.pay(ctx, "first", 10)
	i, _ := g.leader(10 * time.Second)
	x := (i + 1) % 3
	g.converge(10 * time.Second)
	f := g.replicas[x].raft.Snapshot()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	meta, rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	snapSeq, _ := journalPoint(t, rc)
	rc.Close()
	g.pay(ctx, "second", 10)
	g.converge(10 * time.Second)
	seq, head := g.replicas[x].Ledger().Head()
	if snapSeq >= seq {
		t.Fatalf("the snapshot (index %d) holds records to %d, the journal to %d: want the journal ahead", meta.Index, snapSeq, seq)
	}
	for i := range g.replicas {
		g.stop(i)
	}
	g.start(x) // alone: no leader, so nothing but the snapshot moves its journal
	if s, h := g.replicas[x].Ledger().Head(); s != seq || h != head {
		t.Fatalf("restarted on its snapshot (to record %d), the journal ends at %d %x, want %d %x", snapSeq, s, h[:6], seq, head[:6])
	}
	if st := g.replicas[x].SnapshotStats(); st.Restored != 1 || st.RecordsRestored != 0 || st.LastIndex != meta.Index {
		t.Errorf("stats %+v, want its snapshot at %d restored, the journal kept", st, meta.Index)
	}
	for i := range g.replicas {
		if i != x {
			g.start(i)
		}
	}
	g.pay(ctx, "third", 1)
	g.converge(10 * time.Second)
	if s, _ := g.replicas[x].Ledger().Head(); s != seq+1 {
		t.Errorf("after one more transfer the journal ends at %d, want %d", s, seq+1)
	}
	g.sameBalances("bank-a", "bank-b")
	g.auditAll()
}

// A snapshot taken while payments flow holds exactly the journal that
// the entries up to its index make: replaying the Raft log up to each
// snapshot's index into an empty ledger ends at the snapshot's head.
func TestSnapshots_TakenUnderLoadMatchTheLog(t *testing.T) {
	g := newTunedGroup(t, 3, func(c *Config) { c.TrailingLogs = 1 << 40 }) // the log stays whole
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g.openBanks(ctx, 1_000_000_000)
	stop := g.payUnderLoad(ctx, 3, func(payment) {})
	type taken struct {
		index uint64
		seq   uint64
		head  [32]byte
	}
	var snaps []taken
	for k := range 4 {
		_, r := g.leader(10 * time.Second)
		at, _ := r.Ledger().Head()
		g.waitHead(r.Ledger(), at+20, 30*time.Second)
		r = g.replicas[k%3] // leader or follower, alike
		f := r.raft.Snapshot()
		if err := f.Error(); err != nil {
			t.Fatal(err)
		}
		meta, rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		// The stream is whole: it restores into an empty ledger.
		fresh := emptyLedger(t)
		if err := restoreStream(fsmOf(t, fresh), rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		seq, head := fresh.Head()
		snaps = append(snaps, taken{meta.Index, seq, head})
	}
	stop()
	g.converge(10 * time.Second)
	slices.SortFunc(snaps, func(a, b taken) int { return cmp.Compare(a.index, b.index) })
	_, r := g.leader(10 * time.Second)
	replay := emptyLedger(t)
	next := uint64(1)
	for _, s := range snaps {
		for ; next <= s.index; next++ {
			var e raft.Log
			if err := r.logs.GetLog(next, &e); err != nil {
				t.Fatalf("log entry %d: %v", next, err)
			}
			if e.Type != raft.LogCommand {
				continue
			}
			if err := replay.Apply(e.Data); err != nil && !errors.Is(err, ledger.ErrNotLeader) {
				t.Fatalf("log entry %d: %v", next, err)
			}
		}
		if seq, head := replay.Head(); seq != s.seq || head != s.head {
			t.Errorf("the snapshot at index %d holds records to %d %x; the log to that index makes %d %x", s.index, s.seq, s.head[:6], seq, head[:6])
		}
	}
	t.Logf("%d snapshots under load, at indexes %v", len(snaps), snaps)
}

// fsmOf is the fsm of a replica whose ledger is l, with a settlement
// index beside it.
func fsmOf(t *testing.T, l *ledger.Ledger) fsm {
	t.Helper()
	ix, err := settlement.OpenIndex(l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return fsm{&Replica{led: l, index: ix, log: slog.New(slog.DiscardHandler)}}
}

// selfApply makes a ledger a group of one.
type selfApply struct{ l **ledger.Ledger }

func (s selfApply) Replicate(entry []byte) error { return (*s.l).Apply(entry) }

// emptyLedger opens a replica's ledger holding its genesis only, with the
// group's genesis time.
func emptyLedger(t *testing.T) *ledger.Ledger {
	t.Helper()
	var l *ledger.Ledger
	var err error
	if l, err = ledger.Open(t.TempDir(), ledger.Options{Replicator: selfApply{&l}, GenesisTime: time.Unix(0, 0).UTC()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// journalPoint reads the journal section's header out of a snapshot.
func journalPoint(t *testing.T, r io.Reader) (uint64, [32]byte) {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	start := len(streamMagic) + 1
	if len(b) < start+1+len("journal") || string(b[start+1:start+1+len("journal")]) != "journal" {
		t.Fatal("the snapshot does not start with its journal section")
	}
	body, err := io.ReadAll(io.LimitReader(&frameReader{r: bytes.NewReader(b[start+1+len("journal"):])}, 12+1+8+32))
	if err != nil || len(body) != 53 {
		t.Fatalf("the journal section's header: %v", err)
	}
	return binary.BigEndian.Uint64(body[13:]), [32]byte(body[21:])
}

// memSink is a snapshot store's sink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { s.closed = true; return nil }

// persisted takes an fsm snapshot of l and persists it in memory.
func persisted(t *testing.T, l *ledger.Ledger) []byte {
	t.Helper()
	snap, err := fsmOf(t, l).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil || !sink.closed || sink.cancelled {
		t.Fatalf("persist: %v, closed %v, cancelled %v", err, sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}

// sourceLedger is a group of one that has taken a few operations.
func sourceLedger(t *testing.T, ops int) *ledger.Ledger {
	t.Helper()
	l := emptyLedger(t)
	l.Lead()
	ctx := context.Background()
	for _, id := range []ledger.AccountID{"bank-a", "bank-b"} {
		if _, err := l.OpenAccount(ctx, "open-"+string(id), ledger.AccountSpec{ID: id, Kind: ledger.KindIntermediary}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Issue(ctx, "issue", "bank-a", 1_000_000); err != nil {
		t.Fatal(err)
	}
	for i := range ops {
		if _, err := l.Transfer(ctx, fmt.Sprintf("pay-%d", i), "bank-a", "bank-b", 1); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// closeChecker records whether Restore closed what it was given.
type closeChecker struct {
	io.Reader
	closed bool
}

func (c *closeChecker) Close() error { c.closed = true; return nil }

// Restore refuses a stream cut short, changed anywhere, holding a section
// this replica does not know, out of order or twice, or lacking the
// journal, saying which; the ledger is unchanged each time, even when the
// journal section itself was whole and would have added records. The
// whole stream is then restored.
func TestSnapshots_RestoreRefusesBadStreams(t *testing.T) {
	src := sourceLedger(t, 30)
	good := persisted(t, src)
	target := emptyLedger(t)
	f := fsmOf(t, target)
	journal := func(w io.Writer) error {
		seq, head, err := src.SnapshotPoint()
		if err != nil {
			return err
		}
		return src.WriteSnapshot(w, seq, head)
	}
	other := func(w io.Writer) error { _, err := w.Write([]byte("key=value")); return err }
	stream := func(parts ...part) []byte {
		var buf bytes.Buffer
		if err := writeStream(&buf, parts); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	refused := func(what string, b []byte, says string) {
		t.Helper()
		rc := &closeChecker{Reader: bytes.NewReader(b)}
		err := f.Restore(rc)
		if !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("%s: %v, want it refused", what, err)
		}
		if says != "" && !strings.Contains(err.Error(), says) {
			t.Errorf("%s: %q does not say %q", what, err, says)
		}
		if !rc.closed {
			t.Errorf("%s: Restore did not close the snapshot", what)
		}
		if s, _ := target.Head(); s != 1 {
			t.Fatalf("%s moved the ledger to record %d", what, s)
		}
		if st := target.SnapshotStats(); st.Restored != 0 {
			t.Fatalf("%s counted as a restore: %+v", what, st)
		}
	}
	refused("a foreign section after the journal", stream(part{"journal", journal, nil}, part{"settlement-v9", other, nil}),
		`section "settlement-v9", which this replica does not know (it knows "journal", "settlement", "relay", "keys")`)
	refused("a foreign section first", stream(part{"settlement-v9", other, nil}, part{"journal", journal, nil}), `"settlement-v9", which this replica does not know`)
	refused("the journal twice", stream(part{"journal", journal, nil}, part{"journal", journal, nil}), `section "journal" out of place`)
	refused("no journal", stream(), `it has no "journal" section`)
	refused("bytes in the journal section after its records", stream(part{"journal", func(w io.Writer) error {
		if err := journal(w); err != nil {
			return err
		}
		_, err := w.Write([]byte{1})
		return err
	}, nil}), "bytes follow its last record")
	refused("bytes after the trailing hash", append(bytes.Clone(good), 0), "bytes follow its trailing hash")
	refused("another magic", append([]byte("cbdc-replica-snaq"), good[len(streamMagic):]...), "not a ledger replica's snapshot")
	refused("another version", slices.Concat([]byte(streamMagic), []byte{9}, good[len(streamMagic)+1:]), "snapshot version 9")
	refused("the trailing hash changed", append(bytes.Clone(good[:len(good)-1]), good[len(good)-1]^1), "trailing hash does not match")
	step := max(1, len(good)/300)
	for cut := 0; cut < len(good); cut += step {
		refused(fmt.Sprintf("cut at %d of %d bytes", cut, len(good)), good[:cut], "")
	}
	for i := 0; i < len(good); i += step {
		bad := bytes.Clone(good)
		bad[i] ^= 0x04
		refused(fmt.Sprintf("byte %d of %d changed", i, len(good)), bad, "")
	}

	if err := f.Restore(io.NopCloser(bytes.NewReader(good))); err != nil {
		t.Fatalf("the whole snapshot: %v", err)
	}
	ss, sh := src.Head()
	if s, h := target.Head(); s != ss || h != sh {
		t.Errorf("restored to %d, want %d", s, ss)
	}
	if st := target.SnapshotStats(); st.Restored != 1 || st.RecordsRestored != ss-1 {
		t.Errorf("stats %+v, want one restore adding %d records", st, ss-1)
	}
}

// A replica whose journal disagrees with a snapshot (another history from
// the same genesis) refuses it, naming the record, and keeps its journal.
func TestSnapshots_ForkIsRefused(t *testing.T) {
	src := sourceLedger(t, 5)
	snap := persisted(t, src)
	mine := emptyLedger(t)
	mine.Lead()
	if _, err := mine.OpenAccount(context.Background(), "open-x", ledger.AccountSpec{ID: "bank-x", Kind: ledger.KindIntermediary}); err != nil {
		t.Fatal(err)
	}
	mine.Follow()
	seq, head := mine.Head()
	err := fsmOf(t, mine).Restore(io.NopCloser(bytes.NewReader(snap)))
	if !errors.Is(err, ledger.ErrSnapshotForked) || !strings.Contains(err.Error(), "at record 2:") {
		t.Fatalf("a forked journal: %v, want it refused at record 2", err)
	}
	if s, h := mine.Head(); s != seq || h != head {
		t.Errorf("the refusal moved the journal from %d to %d", seq, s)
	}
}

// Raft may restore a snapshot sent by the leader between taking one of
// its own and persisting it, and it persists only once its main loop,
// which waits for the restore, has answered: a restore that waited for the
// snapshot taken before it would never end.
func TestSnapshots_RestoreBetweenTakingAndPersisting(t *testing.T) {
	src := sourceLedger(t, 20)
	sent := persisted(t, src)
	mine := emptyLedger(t)
	f := fsmOf(t, mine)
	own, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Restore(io.NopCloser(bytes.NewReader(sent))) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the restore waits for the snapshot taken before it")
	}
	sink := &memSink{}
	if err := own.Persist(sink); err != nil {
		t.Fatalf("persisting the snapshot taken before the restore: %v", err)
	}
	own.Release()
	if s, _ := mine.Head(); s != func() uint64 { s, _ := src.Head(); return s }() {
		t.Errorf("restored to record %d", s)
	}
}

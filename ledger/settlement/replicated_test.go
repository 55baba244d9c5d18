package settlement

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// faultyReplicator is a consensus group of one that loses write number
// lose: before it is held (lost) or after it is held, with only its answer
// lost (held). Either way the proposer hears not_leader, in doubt.
type faultyReplicator struct {
	ix *Index

	mu     sync.Mutex
	writes int
	lose   int
	held   bool
}

func (f *faultyReplicator) Replicate(entry []byte) error {
	f.mu.Lock()
	f.writes++
	n := f.writes
	f.mu.Unlock()
	if n != f.lose {
		return f.ix.Apply(entry)
	}
	if f.held {
		if err := f.ix.Apply(entry); err != nil {
			return err
		}
	}
	return ledger.ErrNotLeader
}

// replicate turns the world's settler into a replicated one over the same
// index file and root key, whose replicator loses the given write.
func (w *world) replicate(f *faultyReplicator) {
	w.t.Helper()
	if err := w.s.Close(); err != nil {
		w.t.Fatal(err)
	}
	ix, err := OpenIndex(w.dir)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { ix.Close() })
	f.ix = ix
	w.cfg.Replicated = &Replicated{Index: ix, Replicator: f, RootKey: filepath.Join(w.dir, RootKeyFile)}
	w.open()
}

// Whichever write of a replicated settler is lost, or held with its
// answer lost, the settler stops; the next one (a new leader's, here the
// same index reopened) settles what the uploads hold exactly once when
// the devices sync again.
func TestReplicated_ALostWriteSettlesOnceAfterTheNextLeaderOpens(t *testing.T) {
	// Until a run loses no write: then every write has been lost once.
	for lose, lost := 1, true; lost; lose++ {
		lost = false
		for _, held := range []bool{false, true} {
			t.Run(fmt.Sprintf("write=%d/held=%v", lose, held), func(t *testing.T) {
				w := newWorld(t, offline.DefaultPolicy())
				payer, payee := w.person("bank-a", 50_000), w.person("bank-b", 0)
				w.fund(payer, 30_000)
				f := &faultyReplicator{}
				w.replicate(f)
				f.mu.Lock()
				f.lose, f.held, f.writes = lose, held, 0
				f.mu.Unlock()
				for _, amount := range []int64{1000, 2000, 3000} {
					w.pay(payer, payee, amount)
				}
				stopped := w.syncThroughStops(payee) + w.syncThroughStops(payer) + w.syncThroughStops(payee)
				if lose <= f.writes {
					lost = true
					if stopped == 0 {
						t.Errorf("write %d of %d was lost and no settler stopped", lose, f.writes)
					}
				}
				w.wantBalances(map[ledger.AccountID]int64{payee.wallet: 6000, payer.escrow: 24_000})
				sum := w.s.Summary()
				if sum.Settled != 3 || sum.Pending != 0 {
					t.Errorf("summary %+v: want 3 settled, none pending", sum)
				}
				w.conserved()
			})
		}
	}
}

// syncThroughStops syncs a purse as a bank does against a replicated
// ledger: when the settler stops on a write in doubt, the group's next one
// (here the same index reopened) is asked again. It returns the stops.
func (w *world) syncThroughStops(p *person) (stops int) {
	w.t.Helper()
	for {
		up := p.purse.Upload()
		u := uploadOf(up)
		u.Counter, u.ReceivedBefore = up.Counter, up.ReceivedBefore
		u.ReceivedTotal, u.TotalKnown = up.ReceivedBefore+uint64(len(up.Received)), true
		rep, err := w.s.Reconcile(w.ctx, p.bank, u)
		if errors.Is(err, ErrStopped) && stops < 3 {
			stops++
			w.reopen()
			continue
		}
		if err != nil {
			w.t.Fatalf("%s syncs: %v", p.name, err)
		}
		crl := w.s.Revocations()
		if err := p.purse.ApplySync(rep.Receipt, &crl); err != nil {
			w.t.Fatalf("%s applies its sync receipt: %v", p.name, err)
		}
		w.conserved()
		return stops
	}
}

// An index entry that is cut short, names a bucket the index does not
// have, or is of another version changes nothing and says why.
func TestIndex_RefusesBadEntries(t *testing.T) {
	dir := t.TempDir()
	ix, err := OpenIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	good := encoded{puts: []kv{{bucketBanks, []byte("bank-a"), []byte("cert")}}, deletes: [][]byte{[]byte("op-1")}}.entry()
	foreign := encoded{puts: []kv{{[]byte("meta"), []byte("k"), []byte("v")}}}.entry()
	newer := bytes.Clone(good)
	newer[1] = indexEntryVersion + 1
	for name, c := range map[string]struct {
		entry []byte
		want  string
	}{
		"cut short":      {good[:len(good)-3], "cut short"},
		"trailing bytes": {append(bytes.Clone(good), 0), "cut short"},
		"foreign bucket": {foreign, `"meta"`},
		"newer version":  {newer, "version"},
		"a ledger batch": {[]byte{1, 2, 3}, "not an index entry"},
		"empty":          {nil, "not an index entry"},
	} {
		err := ix.Apply(c.entry)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
	st, err := readIndex(ix.db)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.banks) != 0 {
		t.Errorf("refused entries wrote %d banks", len(st.banks))
	}
	if err := ix.Apply(good); err != nil {
		t.Fatalf("a well-formed entry: %v", err)
	}
	ix.Close()
	if err := ix.Apply(good); err == nil {
		t.Error("a closed index took an entry")
	}
}

// A replica given a root key other than the one that certified the banks
// refuses to settle: purses would not trust what it signs.
func TestReplicated_AnotherRootKeyIsRefused(t *testing.T) {
	w := newWorld(t, offline.DefaultPolicy())
	if err := w.s.Close(); err != nil {
		t.Fatal(err)
	}
	ix, err := OpenIndex(w.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	other := filepath.Join(t.TempDir(), "root.key")
	if err := os.WriteFile(other, bytes.Repeat([]byte{7}, ed25519.SeedSize), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := w.cfg
	cfg.Replicated = &Replicated{Index: ix, Replicator: &faultyReplicator{ix: ix}, RootKey: other}
	_, err = Open(w.ctx, w.l, cfg)
	if err == nil || !strings.Contains(err.Error(), "did not certify bank") {
		t.Fatalf("opened with another root key: %v", err)
	}
}

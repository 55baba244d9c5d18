package settlement

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/digital-yen/cbdc-sandbox/boltfile"
	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// On a replicated ledger, settlement is replicated with it. Every replica
// keeps its own copy of the index (an Index), written only by Apply from
// the group's committed entries. The leader alone runs a Settler: each
// write a round makes durable becomes one entry, proposed through the
// same Replicator as the ledger's batches, so it is held by a majority
// before the ledger operations it records are sent. A new leader opens a
// Settler on its copy once it has applied everything committed before it
// led; to it a failover looks like a crash of the old leader, which the
// index already survives: operations in doubt are asked again under
// their ids.

// indexEntryKind starts every replicated index write; the ledger's own
// entries start with their version, a small number, so the two kinds
// share one log.
const indexEntryKind = 'S'

const indexEntryVersion = 1

// IsIndexEntry reports whether a replicated entry is a settlement index
// write rather than a ledger batch.
func IsIndexEntry(entry []byte) bool { return len(entry) > 0 && entry[0] == indexEntryKind }

// Index is one replica's copy of the settlement index.
type Index struct {
	db *bolt.DB

	mu     sync.Mutex // one Apply at a time, and none after Close
	closed bool
}

// OpenIndex opens (or creates) the index in a replica's ledger directory.
func OpenIndex(dir string) (*Index, error) {
	// Copies a snapshot or a restore left behind when the process stopped.
	left, _ := filepath.Glob(filepath.Join(dir, FileName+".snapshot-*"))
	for _, p := range append(left, filepath.Join(dir, restoreName)) {
		os.Remove(p)
	}
	db, err := boltfile.Open(filepath.Join(dir, FileName), bolt.Options{Timeout: time.Second}, nil)
	if err != nil {
		return nil, fmt.Errorf("settlement: %w", err)
	}
	return &Index{db: db}, nil
}

// file is the index's file now: a restored snapshot replaces it.
func (ix *Index) file() *bolt.DB {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.db
}

// Close closes the index's file; later Applies fail.
func (ix *Index) Close() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil
	}
	ix.closed = true
	return ix.db.Close()
}

// errIndexClosed answers an Apply after Close.
var errIndexClosed = errors.New("settlement: the index is closed")

// Apply writes one committed index entry. Every replica applies the same
// entries in the same order, and a write is a set of puts and deletes, so
// applying an entry again (a replay after a restart) and then the ones
// after it ends in the same index.
func (ix *Index) Apply(entry []byte) error {
	e, err := decodeIndexEntry(entry)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return errIndexClosed
	}
	return writeIndex(ix.db, e)
}

// indexBuckets are the buckets a replicated write may touch.
var indexBuckets = map[string]bool{string(bucketBanks): true, string(bucketDevices): true,
	string(bucketVouchers): true, string(bucketConflicts): true, string(bucketOps): true}

// entry encodes a write as a replicated index entry.
func (e encoded) entry() []byte {
	w := enc{b: []byte{indexEntryKind, indexEntryVersion}}
	w.u64(uint64(len(e.puts)))
	for _, p := range e.puts {
		w.str(string(p.bucket))
		w.blob(p.key)
		w.blob(p.val)
	}
	w.u64(uint64(len(e.deletes)))
	for _, k := range e.deletes {
		w.blob(k)
	}
	return w.b
}

func decodeIndexEntry(b []byte) (encoded, error) {
	var e encoded
	if len(b) < 2 || b[0] != indexEntryKind {
		return e, fmt.Errorf("settlement: not an index entry")
	}
	if b[1] != indexEntryVersion {
		return e, fmt.Errorf("settlement: index entry of version %d; this build reads %d", b[1], indexEntryVersion)
	}
	r := dec{b: b[2:]}
	for n := r.count(1 + 8 + 8); n > 0 && !r.bad; n-- {
		p := kv{bucket: []byte(r.str()), key: r.blob(), val: r.blob()}
		if !r.bad && (!indexBuckets[string(p.bucket)] || len(p.key) == 0) {
			return e, fmt.Errorf("settlement: index entry writes %q under key %x, which the index does not have", p.bucket, p.key)
		}
		e.puts = append(e.puts, p)
	}
	for n := r.count(8); n > 0 && !r.bad; n-- {
		e.deletes = append(e.deletes, r.blob())
	}
	if !r.ok() {
		return e, fmt.Errorf("settlement: index entry cut short or corrupt")
	}
	return e, nil
}

// Replicated makes a Settler one replica's leader-side settlement.
type Replicated struct {
	Index      *Index            // this replica's copy, which the Settler reads at Open and never closes
	Replicator ledger.Replicator // carries each write to the replicas; the ledger's own
	RootKey    string            // the root key's file, the same for every replica (not in the replica's directory)
}

package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/digital-yen/cbdc-sandbox/boltfile"
	bolt "go.etcd.io/bbolt"
)

// The ledger's bbolt file holds the journal and nothing else that changes:
// balances live in memory and are rebuilt from the journal on open.
var (
	bucketMeta    = []byte("meta")
	bucketJournal = []byte("journal")
	keyFormat     = []byte("format")
	keyHead       = []byte("head") // sequence and hash of the last record, written with it
)

// journalFormat names the layout of the ledger file.
const journalFormat = "cbdc-ledger/2"

// FileName is the ledger's bbolt file inside its data directory.
const FileName = "ledger.db"

// chunkTarget is the size a journal chunk grows to before another starts.
// Small enough that the rightmost leaf bbolt rewrites each commit stays cheap.
const chunkTarget = 16 << 10

// openDB opens the ledger's file. An existing file is read in full first,
// by verify when it is not nil: Open passes verifyChain, so a ledger
// serves only a journal whose hash chain it has checked.
func openDB(dir string, readOnly bool, verify func(tx *bolt.Tx) error) (*bolt.DB, error) {
	path := filepath.Join(dir, FileName)
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("ledger: no ledger in %s: %w", dir, err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ledger: create data directory: %w", err)
	}
	db, err := boltfile.Open(path, bolt.Options{
		Timeout:         time.Second,
		ReadOnly:        readOnly,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 1 << 30,
	}, verify)
	if d, ok := damageOf(err); ok {
		return nil, d
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	if !readOnly {
		if err := syncDirs(dir); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// verifyChain is openDB's check for a ledger about to serve: the first
// damage in the hash chain refuses the file.
func verifyChain(path string) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		if found := checkChain(tx, path, 1); len(found) > 0 {
			return found[0]
		}
		return nil
	}
}

// syncDirs makes a new file's directory entry durable, and the entry of the
// directory itself, since bbolt syncs only the file.
func syncDirs(dir string) error {
	for _, d := range []string{dir, filepath.Dir(dir)} {
		f, err := os.Open(d)
		if err != nil {
			return fmt.Errorf("ledger: sync directory: %w", err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("ledger: sync directory %s: %w", d, err)
		}
	}
	return nil
}

// initJournal writes the format marker and the genesis record into a new
// ledger file; an existing file is checked for its format.
func initJournal(db *bolt.DB, now time.Time) error {
	return db.Update(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			if f := meta.Get(keyFormat); !bytes.Equal(f, []byte(journalFormat)) {
				return broken(ErrCorrupt, "ledger file format %q, want %q", f, journalFormat)
			}
			return nil
		}
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keyFormat, []byte(journalFormat)); err != nil {
			return err
		}
		j, err := tx.CreateBucket(bucketJournal)
		if err != nil {
			return err
		}
		g := &record{seq: 1, time: now.UnixNano(), typ: opGenesis, opID: "genesis",
			kind: KindIssuance, accountID: IssuanceAccount, links: []link{{}}}
		enc := appendRecord(nil, g)
		if err := meta.Put(keyHead, headValue(1, recordHash(enc))); err != nil {
			return err
		}
		return j.Put(seqKey(1), appendChunkEntry(nil, enc))
	})
}

func headValue(seq uint64, hash [32]byte) []byte {
	return append(seqKey(seq), hash[:]...)
}

// checkHead compares the journal's last record with the head stored beside
// it in the same transactions, so a change to the newest record, which no
// later record's hash covers, is caught too.
func checkHead(tx *bolt.Tx, seq uint64, hash [32]byte) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return broken(ErrCorrupt, "ledger file has no meta bucket, so no stored head")
	}
	got := meta.Get(keyHead)
	if bytes.Equal(got, headValue(seq, hash)) {
		return nil
	}
	if len(got) != 40 {
		return broken(ErrCorrupt, "the stored head of the journal is missing or malformed")
	}
	return broken(ErrCorrupt, "journal ends at record %d with hash %x, but the stored head is record %d with hash %x (the newest record was changed or the journal cut)",
		seq, hash, binary.BigEndian.Uint64(got), got[8:])
}

// appendChunks adds a batch's chunks to the journal in one transaction and
// moves the stored head; bbolt's commit fsyncs before it returns.
func appendChunks(db *bolt.DB, keys []uint64, chunks [][]byte, last uint64, head [32]byte) error {
	return db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Put(keyHead, headValue(last, head)); err != nil {
			return err
		}
		j := tx.Bucket(bucketJournal)
		j.FillPercent = 1 // keys only ever grow: pack pages full
		for i, c := range chunks {
			if err := j.Put(seqKey(keys[i]), c); err != nil {
				return err
			}
		}
		return nil
	})
}

// scanJournal calls fn with every encoded record from sequence from on, in
// order. The bytes are only valid during the call.
func scanJournal(tx *bolt.Tx, from uint64, fn func(rec []byte) error) error {
	j := tx.Bucket(bucketJournal)
	if j == nil {
		return broken(ErrCorrupt, "ledger file has no journal")
	}
	c := j.Cursor()
	// Start at the chunk holding from: the last one whose key is not above it.
	key := seqKey(from)
	k, v := c.Seek(key)
	switch {
	case k == nil:
		k, v = c.Last()
	case !bytes.Equal(k, key):
		if pk, pv := c.Prev(); pk != nil {
			k, v = pk, pv
		} else {
			k, v = c.First()
		}
	}
	for ; k != nil; k, v = c.Next() {
		err := eachRecord(v, func(rec []byte) error {
			if peekSeq(rec) < from {
				return nil
			}
			return fn(rec)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// errStopScan ends a scan early without being an error.
var errStopScan = errors.New("stop scan")

// readRecord returns a copy of the encoded record at seq.
func readRecord(tx *bolt.Tx, seq uint64) ([]byte, error) {
	var out []byte
	err := scanJournal(tx, seq, func(rec []byte) error {
		if peekSeq(rec) == seq {
			out = append([]byte(nil), rec...)
		}
		return errStopScan
	})
	if out == nil {
		if err != nil && err != errStopScan {
			return nil, err
		}
		return nil, broken(ErrCorrupt, "journal has no record %d", seq)
	}
	return out, nil
}

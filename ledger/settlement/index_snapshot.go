package settlement

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/digital-yen/cbdc-sandbox/boltfile"
)

// A replica's snapshot holds its copy of the index beside the journal, as
// the bbolt file's bytes: the index writes before a snapshot are
// compacted out of the Raft log with it.

// restoreName is where a snapshot's index is staged, beside the index.
const restoreName = FileName + ".restore"

// Snapshot fixes the index as it is now (a read transaction: later
// writes do not reach it). The replica calls it between two entries and
// writes it later, while entries are applied again; Release ends the
// transaction, whether or not it was written.
func (ix *Index) Snapshot() (*IndexSnapshot, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil, errIndexClosed
	}
	tx, err := ix.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("settlement: snapshot the index: %w", err)
	}
	return &IndexSnapshot{tx: tx}, nil
}

// IndexSnapshot is the index at one point.
type IndexSnapshot struct {
	tx   *bolt.Tx
	once sync.Once
}

// WriteTo writes the index's file as it was.
func (s *IndexSnapshot) WriteTo(w io.Writer) (int64, error) { return s.tx.WriteTo(w) }

// Release ends the snapshot's read transaction; a long one would hold
// back the index's growth.
func (s *IndexSnapshot) Release() { s.once.Do(func() { s.tx.Rollback() }) }

// StagedIndex is a snapshot's index, written beside the index and checked,
// not yet the replica's.
type StagedIndex struct {
	ix   *Index
	path string
}

// Stage writes a snapshot's index beside this one and reads it through as
// the Settler would; the index is not changed.
func (ix *Index) Stage(r io.Reader) (*StagedIndex, error) {
	path := filepath.Join(filepath.Dir(ix.db.Path()), restoreName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("settlement: stage the index: %w", err)
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = checkIndexFile(path)
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("settlement: the snapshot's index: %w", err)
	}
	return &StagedIndex{ix: ix, path: path}, nil
}

func checkIndexFile(path string) error {
	db, err := boltfile.Open(path, bolt.Options{ReadOnly: true, Timeout: time.Second}, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = readIndex(db)
	return err
}

// Apply makes the staged index this replica's: the file replaces the
// index's, which is opened again.
func (s *StagedIndex) Apply() error {
	ix := s.ix
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return errIndexClosed
	}
	path := ix.db.Path()
	if err := ix.db.Close(); err != nil {
		return fmt.Errorf("settlement: close the index to restore it: %w", err)
	}
	err := os.Rename(s.path, path)
	db, oerr := boltfile.Open(path, bolt.Options{Timeout: time.Second}, nil)
	if oerr != nil {
		ix.closed = true
		return fmt.Errorf("settlement: reopen the index: %w", errors.Join(err, oerr))
	}
	ix.db = db
	if err != nil {
		return fmt.Errorf("settlement: restore the index: %w", err)
	}
	return nil
}

// Discard removes what was staged.
func (s *StagedIndex) Discard() { os.Remove(s.path) }

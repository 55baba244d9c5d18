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

// Snapshot copies the index as it is now to a file beside it, which
// WriteTo streams later while entries are applied again, and Release
// removes. It copies at once, on the caller's goroutine, rather than
// holding a read transaction until WriteTo: Raft may restore a snapshot
// in between, which closes the index's file, and that would wait for the
// transaction while Raft waits for the restore.
func (ix *Index) Snapshot() (*IndexSnapshot, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil, errIndexClosed
	}
	f, err := os.CreateTemp(filepath.Dir(ix.db.Path()), FileName+".snapshot-*")
	if err != nil {
		return nil, fmt.Errorf("settlement: snapshot the index: %w", err)
	}
	err = ix.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(f)
		return err
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("settlement: snapshot the index: %w", err)
	}
	return &IndexSnapshot{path: f.Name()}, nil
}

// IndexSnapshot is the index at one point, copied to a file.
type IndexSnapshot struct {
	path string
	once sync.Once
}

// WriteTo writes the index's file as it was.
func (s *IndexSnapshot) WriteTo(w io.Writer) (int64, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return 0, fmt.Errorf("settlement: the index's snapshot: %w", err)
	}
	defer f.Close()
	return io.Copy(w, f)
}

// Release removes the copy.
func (s *IndexSnapshot) Release() { s.once.Do(func() { os.Remove(s.path) }) }

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

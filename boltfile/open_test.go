package boltfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// sample writes a bbolt file that spans many pages: a bucket of small
// values (leaf and branch pages), a value on overflow pages and a nested
// bucket. It returns the file's path, page size and used size in bytes.
func sample(t *testing.T) (path string, pageSize int, used int64) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "sample.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 3000 {
			if err := b.Put(binary.BigEndian.AppendUint32(nil, uint32(i)), bytes.Repeat([]byte{byte(i)}, 100)); err != nil {
				return err
			}
		}
		if err := b.Put([]byte("big"), bytes.Repeat([]byte("x"), 20000)); err != nil {
			return err
		}
		nested, err := b.CreateBucket([]byte("nested"))
		if err != nil {
			return err
		}
		return nested.Put([]byte("k"), []byte("v"))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		used = tx.Size()
		return nil
	})
	return path, db.Info().PageSize, used
}

func truncated(t *testing.T, src string, size int64) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "cut.db")
	if err := os.WriteFile(dst, b[:size], 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// A file cut short anywhere before the end of its last page in use is
// refused as truncated, by Check and by Open, which never maps it.
func TestOpen_TruncatedFileIsDamage(t *testing.T) {
	src, ps, used := sample(t)
	for _, size := range []int64{0, 10, 100, int64(ps) - 1, int64(ps) + 100, 2 * int64(ps), used / 2, used - int64(ps) + 1, used - 1} {
		t.Run(fmt.Sprint("size=", size), func(t *testing.T) {
			path := truncated(t, src, size)
			for name, err := range map[string]error{"Check": Check(path), "Open": openErr(path, bolt.Options{})} {
				var d *Damage
				if !errors.As(err, &d) || !errors.Is(err, ErrDamaged) || d.Kind != Truncated || d.Path != path {
					t.Errorf("%s of a file cut to %d of %d bytes: err = %v, want truncation damage", name, size, used, err)
				}
			}
		})
	}
}

func openErr(path string, opts bolt.Options) error {
	db, err := Open(path, opts, nil)
	if err == nil {
		db.Close()
	}
	return err
}

// Space past the last page in use holds nothing: cutting it off is not damage.
func TestOpen_UnusedTailIsNotDamage(t *testing.T) {
	src, _, used := sample(t)
	path := truncated(t, src, used)
	db, err := Open(path, bolt.Options{}, nil)
	if err != nil {
		t.Fatalf("file cut to its used size: %v", err)
	}
	db.Close()
}

func flip(t *testing.T, path string, offsets ...int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, off := range offsets {
		var b [1]byte
		if _, err := f.ReadAt(b[:], off); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0x5a
		if _, err := f.WriteAt(b[:], off); err != nil {
			t.Fatal(err)
		}
	}
}

// bbolt writes its two meta pages in turn, so one of them torn is
// survivable; both altered is damage.
func TestOpen_MetaPages(t *testing.T) {
	path, ps, _ := sample(t)
	pgid := int64(pageHeaderLen + 40) // the high-water mark's offset in a meta page
	flip(t, path, pgid)
	db, err := Open(path, bolt.Options{}, nil)
	if err != nil {
		t.Fatalf("one meta page altered: %v", err)
	}
	db.Close()
	flip(t, path, int64(ps)+pgid)
	err = openErr(path, bolt.Options{})
	var d *Damage
	if !errors.As(err, &d) || d.Kind != Altered || !strings.Contains(err.Error(), "meta pages") {
		t.Errorf("both meta pages altered: err = %v, want altered meta pages", err)
	}
}

// Pages whose headers were altered make bbolt panic on its own
// goroutines when they are opened for writing; Open finds them first.
func TestOpen_AlteredPagesAreDamage(t *testing.T) {
	path, ps, used := sample(t)
	var offs []int64
	for off := 2 * int64(ps); off < used; off += int64(ps) {
		offs = append(offs, off) // the low byte of each page's id
	}
	flip(t, path, offs...)
	for _, ro := range []bool{false, true} {
		err := openErr(path, bolt.Options{ReadOnly: ro})
		var d *Damage
		if !errors.As(err, &d) || d.Kind != Unreadable {
			t.Errorf("read-only %v: err = %v, want unreadable damage", ro, err)
		}
	}
}

// A second opener is told the file is in use, and by what path.
func TestOpen_InUse(t *testing.T) {
	path, _, _ := sample(t)
	held, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for _, ro := range []bool{false, true} {
		err := openErr(path, bolt.Options{ReadOnly: ro, Timeout: 50 * time.Millisecond})
		if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), path+" is in use by another process") {
			t.Errorf("read-only %v: err = %v, want the path and ErrInUse", ro, err)
		}
	}
}

// A verify function sees every record and its error comes back as it is.
func TestOpen_Verify(t *testing.T) {
	path, _, _ := sample(t)
	errMine := errors.New("mine")
	_, err := Open(path, bolt.Options{}, func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("b")).Get([]byte("big")) == nil {
			t.Error("verify does not see the file's contents")
		}
		return errMine
	})
	if err != errMine {
		t.Errorf("err = %v, want verify's own", err)
	}
}

// A new file is created; a sound one opens and keeps its contents.
func TestOpen_CreatesAndReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	for range 2 {
		db, err := Open(path, bolt.Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte("v"))
		})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
}

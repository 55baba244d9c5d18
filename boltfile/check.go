package boltfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// The layout of a bbolt meta page (go.etcd.io/bbolt/internal/common): a
// 16-byte page header, then magic, version, page size, flags, the root
// bucket (root page and sequence), the freelist page, the high-water mark
// (pgid: the number of pages in use), the transaction id and an FNV-64a
// checksum of everything before it. Pages 0 and 1 are meta pages; bbolt
// uses the valid one with the higher transaction id. The file is in the
// machine's byte order.
const (
	pageHeaderLen = 16
	metaLen       = 64
	metaSumLen    = 56
	boltMagic     = 0xED0CDAED
	boltVersion   = 2
	noFreelist    = ^uint64(0)
	defaultPage   = 4096
)

// meta is what Check reads from one meta page.
type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

var errBadMeta = errors.New("not a valid meta page")

// readMeta reads and validates the meta page that starts at off.
func readMeta(r io.ReaderAt, off int64) (meta, error) {
	var b [pageHeaderLen + metaLen]byte
	if _, err := r.ReadAt(b[:], off); err != nil {
		return meta{}, err
	}
	m := b[pageHeaderLen:]
	e := binary.NativeEndian
	h := fnv.New64a()
	h.Write(m[:metaSumLen])
	if e.Uint32(m[0:]) != boltMagic || e.Uint32(m[4:]) != boltVersion || e.Uint64(m[56:]) != h.Sum64() {
		return meta{}, errBadMeta
	}
	return meta{pageSize: e.Uint32(m[8:]), root: e.Uint64(m[16:]), freelist: e.Uint64(m[32:]),
		pgid: e.Uint64(m[40:]), txid: e.Uint64(m[48:])}, nil
}

// Check reads the meta pages of the bbolt file at path, without mapping
// it, and returns a *Damage when bbolt could not use them or when the file
// is shorter than the pages they say it holds. One invalid meta page is
// not damage: bbolt writes them in turn so that a torn write of one leaves
// the other.
func Check(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if kind, detail := checkMeta(f, fi.Size()); kind != "" {
		return &Damage{Path: path, Kind: kind, Detail: detail}
	}
	return nil
}

// checkMeta says what is wrong with a file of the given size, if anything.
func checkMeta(r io.ReaderAt, size int64) (Kind, string) {
	if size == 0 {
		return Truncated, "the file is empty: it was cut to nothing, or its creation never finished"
	}
	m, err := activeMeta(r, size)
	if err != nil {
		if size < 2*defaultPage {
			return Truncated, fmt.Sprintf("the file is %d bytes, cut short inside its two meta pages", size)
		}
		return Altered, "neither of its two meta pages is valid (checksum, magic number or version)"
	}
	ps := uint64(m.pageSize)
	if ps < 512 || ps&(ps-1) != 0 {
		return Altered, fmt.Sprintf("its meta page gives a page size of %d bytes", ps)
	}
	if need := m.pgid * ps; m.pgid > 0 && uint64(size) < need {
		return Truncated, fmt.Sprintf("the file is %d bytes, but its meta page says it holds %d pages of %d bytes (%d bytes): the last %d bytes are missing",
			size, m.pgid, ps, need, need-uint64(size))
	}
	if m.pgid < 2 || m.root >= m.pgid || (m.freelist != noFreelist && m.freelist >= m.pgid) {
		return Altered, fmt.Sprintf("its meta page points past its own high-water mark (root page %d, freelist page %d, %d pages)", m.root, m.freelist, m.pgid)
	}
	return "", ""
}

// activeMeta returns the meta page bbolt would use: the valid one with the
// higher transaction id. Like bbolt, it looks for the second meta page at
// every page size it supports when the first does not say.
func activeMeta(r io.ReaderAt, size int64) (meta, error) {
	m0, err0 := readMeta(r, 0)
	var m1 meta
	err1 := errBadMeta
	if err0 == nil {
		m1, err1 = readMeta(r, int64(m0.pageSize))
	} else {
		for ps := int64(1024); ps <= 1024<<14 && ps < size; ps <<= 1 {
			if m1, err1 = readMeta(r, ps); err1 == nil && int64(m1.pageSize) == ps {
				break
			}
			err1 = errBadMeta
		}
	}
	switch {
	case err0 == nil && err1 == nil && m1.txid > m0.txid && m1.pageSize == m0.pageSize:
		return m1, nil
	case err0 == nil:
		return m0, nil
	case err1 == nil:
		return m1, nil
	}
	return meta{}, errBadMeta
}

// Used is how many bytes of the file at path its last committed
// transaction uses; the rest is room bbolt grew the file by. Tests that
// damage a file cut or alter it within this part.
func Used(path string) (int64, error) {
	db, err := Open(path, bolt.Options{ReadOnly: true}, nil)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var used int64
	err = db.View(func(tx *bolt.Tx) error {
		used = tx.Size()
		return nil
	})
	return used, err
}

package boltfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DefaultTimeout is how long Open waits for another process to let go of
// the file when opts give no Timeout (bbolt's zero waits for ever).
const DefaultTimeout = time.Second

// Open opens the bbolt file at path as bolt.Open does with opts, creating
// it when it does not exist and opts allow. An existing file is checked
// first: its meta pages (Check), then every page, read once in a read-only
// transaction by verify, or by a walk of every key and value when verify
// is nil. Damage found on the way is returned as a *Damage; a file another
// process holds as an error wrapping ErrInUse. Errors verify returns are
// passed through as they are.
//
// The read-only pass comes before the file is opened for writing because
// bbolt, opening a file whose freelist it does not store, walks every page
// on a goroutine of its own, where a damaged page would end the process.
func Open(path string, opts bolt.Options, verify func(tx *bolt.Tx) error) (*bolt.DB, error) {
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return open(path, opts)
	} else if err != nil {
		return nil, err
	}
	if err := Check(path); err != nil {
		return nil, err
	}
	if verify == nil {
		verify = walk
	}
	ro := opts
	ro.ReadOnly = true
	db, err := open(path, ro)
	if err != nil {
		return nil, err
	}
	if err := View(db, verify); err != nil {
		db.Close()
		return nil, err
	}
	if opts.ReadOnly {
		return db, nil
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	return open(path, opts)
}

func open(path string, opts bolt.Options) (db *bolt.DB, err error) {
	err = guard(path, func() error {
		db, err = bolt.Open(path, 0o600, &opts)
		return err
	})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("%s is %w", path, ErrInUse)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrVersionMismatch):
		return nil, &Damage{Path: path, Kind: Altered, Detail: "bbolt refuses its meta pages: " + err.Error()}
	}
	return db, err
}

// View runs fn in a read-only transaction of db. A fault reading the
// mapped file, or a panic of bbolt's own over a page it cannot make sense
// of, ends fn with a *Damage instead of ending the process.
func View(db *bolt.DB, fn func(tx *bolt.Tx) error) error {
	return guard(db.Path(), func() error { return db.View(fn) })
}

// guard runs fn with memory faults turned into panics, and turns those
// panics, and bbolt's assertions (panics with a string), into Damage.
// Other panics are bugs and go on.
func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if d, ok := damageOf(r); ok {
			err = &Damage{Path: path, Kind: Unreadable, Detail: d}
			return
		}
		panic(r)
	}()
	return fn()
}

// damageOf says whether a recovered panic came from reading a damaged
// file: a fault at an address that is not nil's, or bbolt's assertion.
func damageOf(r any) (string, bool) {
	switch v := r.(type) {
	case string:
		return "bbolt cannot read a page: " + v, true
	case runtime.Error:
		if a, ok := v.(interface{ Addr() uintptr }); ok && a.Addr() >= 4096 {
			return fmt.Sprintf("reading the file faulted at address %#x (a page lies outside the file)", a.Addr()), true
		}
	}
	return "", false
}

// walk reads every key and value in the file once, touching the first and
// last byte of each value so its pages are read too.
func walk(tx *bolt.Tx) error {
	var sum byte
	var visit func(b *bolt.Bucket) error
	visit = func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				if child := b.Bucket(k); child != nil {
					return visit(child)
				}
				return nil
			}
			if len(v) > 0 {
				sum += v[0] + v[len(v)-1]
			}
			return nil
		})
	}
	err := tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return visit(b) })
	runtime.KeepAlive(sum)
	return err
}

package boltfile

import "errors"

// ErrDamaged matches every *Damage: a file whose bytes were altered, cut
// short or lost after they were written.
var ErrDamaged = errors.New("boltfile: file is damaged")

// ErrInUse means another process holds the file open; the error wrapping
// it names the file.
var ErrInUse = errors.New("in use by another process")

// Kind says what happened to damaged bytes.
type Kind string

const (
	// Altered means bytes differ from what was written: a checksum or a
	// hash does not match.
	Altered Kind = "bytes altered"

	// Missing means whole records or pages that were written are gone.
	Missing Kind = "missing"

	// Truncated means a file or a record ends before its own length says.
	Truncated Kind = "truncated"

	// Unreadable means reading the file faulted or bbolt gave up on a page.
	Unreadable Kind = "unreadable"
)

// Damage is a damaged file: which one, what kind of damage and where.
type Damage struct {
	Path   string
	Kind   Kind
	Detail string // where and what, in a sentence
}

func (d *Damage) Error() string {
	return d.Path + " is damaged (" + string(d.Kind) + "): " + d.Detail
}

// Is makes errors.Is(err, ErrDamaged) true for every Damage.
func (d *Damage) Is(target error) bool { return target == ErrDamaged }

package offline

import (
	"bytes"
	"crypto/ed25519"
	"slices"
	"time"
)

// RevocationList is the central bank's signed list of revoked devices.
// Banks fetch it from the ledger and purses cache it, so a payee can refuse
// a revoked payer without going online. A higher Seq replaces a lower one.
type RevocationList struct {
	Seq       uint64
	Issued    time.Time
	Serials   []Serial // sorted, no repeats
	Signature [ed25519.SignatureSize]byte
}

// MaxRevocations bounds a list so a decoder never allocates without limit.
const MaxRevocations = 1 << 20

func (l *RevocationList) signed(w *writer) {
	w.header(typeRevocations)
	w.u64(l.Seq)
	w.time(l.Issued)
	w.u32(uint32(len(l.Serials)))
	for _, s := range l.Serials {
		w.fixed(s[:])
	}
}

// IssueRevocationList sorts the serials and signs the list with the root key.
func IssueRevocationList(root ed25519.PrivateKey, seq uint64, issued time.Time, serials []Serial) RevocationList {
	s := slices.Clone(serials)
	slices.SortFunc(s, func(a, b Serial) int { return bytes.Compare(a[:], b[:]) })
	s = slices.Compact(s)
	l := RevocationList{Seq: seq, Issued: issued.Truncate(time.Millisecond), Serials: s}
	copy(l.Signature[:], ed25519.Sign(root, signedMessage(domainRevocations, l.signed)))
	return l
}

// Marshal returns the canonical encoding.
func (l RevocationList) Marshal() []byte {
	var w writer
	l.signed(&w)
	w.fixed(l.Signature[:])
	return w.bytes()
}

// ParseRevocationList decodes a list; it does not verify it.
func ParseRevocationList(b []byte) (RevocationList, error) {
	r := reader{b: b, what: "revocation list"}
	var l RevocationList
	r.header(typeRevocations)
	l.Seq = r.u64()
	l.Issued = r.time()
	n := r.u32()
	if r.err == nil && (n > MaxRevocations || int(n)*len(Serial{}) > len(r.b)) {
		r.fail("claims %d serials", n)
	}
	if r.err == nil {
		l.Serials = make([]Serial, n)
		for i := range l.Serials {
			r.fixed(l.Serials[i][:])
			if i > 0 && bytes.Compare(l.Serials[i-1][:], l.Serials[i][:]) >= 0 {
				r.fail("serials are not sorted and distinct")
			}
		}
	}
	r.fixed(l.Signature[:])
	if err := r.end(); err != nil {
		return RevocationList{}, err
	}
	return l, nil
}

// Verify checks the root's signature.
func (l RevocationList) Verify(root ed25519.PublicKey) error {
	if !ed25519.Verify(root, signedMessage(domainRevocations, l.signed), l.Signature[:]) {
		return broken(ErrBadSignature, "revocation list %d is not signed by the central bank's root key", l.Seq)
	}
	return nil
}

// Contains reports whether s is revoked.
func (l RevocationList) Contains(s Serial) bool {
	_, found := slices.BinarySearchFunc(l.Serials, s, func(a, b Serial) int { return bytes.Compare(a[:], b[:]) })
	return found
}

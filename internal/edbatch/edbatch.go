// Package edbatch checks ed25519 signatures many at a time: one
// multi-scalar multiplication over a random linear combination of the
// signatures' equations costs about half of checking each alone, in
// batches of 32 or more.
//
// Batches use the cofactored equation [8]([s]B − R − [k]A) = 0 (as
// ZIP 215 does), and so does the one-by-one check (VerifyOne) that finds
// the culprits when a batch fails, so a signature's verdict never depends
// on what it was batched with. Every signature crypto/ed25519 makes
// passes; a few that a strict RFC 8032 (cofactorless) verifier refuses,
// which no honest signer makes, pass too.
package edbatch

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"errors"

	"filippo.io/edwards25519"
)

// Key is a public key, decompressed once for all its signatures.
type Key struct {
	raw  ed25519.PublicKey
	negA *edwards25519.Point
}

// ErrWeakKey is a public key of small order: anyone could sign for it.
var ErrWeakKey = errors.New("the key is a point of small order")

// NewKey decompresses pub: an error when it is not 32 bytes encoding a
// point of the curve, or ErrWeakKey when the point is of small order.
func NewKey(pub ed25519.PublicKey) (*Key, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("the key is not 32 bytes")
	}
	a, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, err
	}
	if new(edwards25519.Point).MultByCofactor(a).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, ErrWeakKey
	}
	return &Key{raw: pub, negA: new(edwards25519.Point).Negate(a)}, nil
}

// Public is the key's 32 bytes.
func (k *Key) Public() ed25519.PublicKey { return k.raw }

// Item is one signature to check: Sig over Msg under Key.
type Item struct {
	Key      *Key
	Msg, Sig []byte
}

// parse reads a signature's R and s and computes its challenge
// k = H(R ‖ A ‖ msg).
func parse(it *Item) (R *edwards25519.Point, s, k *edwards25519.Scalar, ok bool) {
	if len(it.Sig) != ed25519.SignatureSize {
		return nil, nil, nil, false
	}
	s, err := edwards25519.NewScalar().SetCanonicalBytes(it.Sig[32:])
	if err != nil {
		return nil, nil, nil, false
	}
	R, err = new(edwards25519.Point).SetBytes(it.Sig[:32])
	if err != nil {
		return nil, nil, nil, false
	}
	h := sha512.New()
	h.Write(it.Sig[:32])
	h.Write(it.Key.raw)
	h.Write(it.Msg)
	var d [64]byte
	k, _ = edwards25519.NewScalar().SetUniformBytes(h.Sum(d[:0]))
	return R, s, k, true
}

// VerifyOne checks [8]([s]B − [k]A − R) = 0.
func VerifyOne(it *Item) bool {
	R, s, k, ok := parse(it)
	if !ok {
		return false
	}
	p := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, it.Key.negA, s)
	p.Subtract(p, R)
	p.MultByCofactor(p)
	return p.Equal(edwards25519.NewIdentityPoint()) == 1
}

// VerifyBatch checks Σ zᵢ·[8]([sᵢ]B − Rᵢ − [kᵢ]Aᵢ) = 0 for random 128-bit
// zᵢ, which holds for a batch with a bad signature with probability
// 2⁻¹²⁸: true means every signature passes VerifyOne; false, that at
// least one does not. Each Rᵢ is taken with its short zᵢ (as zᵢ·(−Rᵢ)),
// and the signatures under one Key share one term, Σ zᵢkᵢ·(−A): an
// upload of one purse's vouchers costs little more than its Rs.
func VerifyBatch(items []*Item) bool {
	scalars := make([]*edwards25519.Scalar, 0, len(items)+2)
	points := make([]*edwards25519.Point, 0, len(items)+2)
	keyTerm := make(map[*Key]int, 4) // a key's place in scalars and points
	sumZS := edwards25519.NewScalar()
	var zb [64]byte
	for _, it := range items {
		R, s, k, ok := parse(it)
		if !ok {
			return false
		}
		rand.Read(zb[:16])
		z, _ := edwards25519.NewScalar().SetUniformBytes(zb[:])
		sumZS.MultiplyAdd(z, s, sumZS)
		scalars = append(scalars, z)
		points = append(points, R.Negate(R))
		zk := edwards25519.NewScalar().Multiply(z, k)
		if at, ok := keyTerm[it.Key]; ok {
			scalars[at].Add(scalars[at], zk)
			continue
		}
		keyTerm[it.Key] = len(scalars)
		scalars = append(scalars, zk)
		points = append(points, it.Key.negA)
	}
	scalars = append(scalars, sumZS)
	points = append(points, edwards25519.NewGeneratorPoint())
	p := new(edwards25519.Point).VarTimeMultiScalarMult(scalars, points)
	p.MultByCofactor(p)
	return p.Equal(edwards25519.NewIdentityPoint()) == 1
}

// Verify checks every item, in batches of up to batchSize, and says which
// pass: a batch that fails is checked one by one.
func Verify(items []*Item, batchSize int) []bool {
	ok := make([]bool, len(items))
	for start := 0; start < len(items); start += batchSize {
		batch := items[start:min(start+batchSize, len(items))]
		if len(batch) > 1 && VerifyBatch(batch) {
			for i := range batch {
				ok[start+i] = true
			}
			continue
		}
		for i, it := range batch {
			ok[start+i] = VerifyOne(it)
		}
	}
	return ok
}

package intermediary

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"runtime"
	"sync"
	"time"

	"filippo.io/edwards25519"

	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// Signature checks are the largest cost of a payment at the bank (about
// 45 µs each on our machine). Under load, instructions arriving together
// are checked together: one multi-scalar multiplication over a random
// linear combination of the signatures' equations costs about 20 µs a
// signature in batches of 32 or more. A checker gathers what arrives
// within sigGather (2 ms) of the first request (or maxSigBatch requests), so a
// request waits at most that long for company; at low load a batch is one
// signature.
//
// Batches use the cofactored equation [8]([s]B − R − [k]A) = 0 (as
// ZIP 215 does), and so does the one-by-one check that finds the culprits
// when a batch fails, so a signature's verdict never depends on what it
// was batched with. Every signature crypto/ed25519 makes passes.

const (
	maxSigBatch = 64
	sigGather   = 2 * time.Millisecond
)

// sigKey is a wallet's public key, decompressed once.
type sigKey struct {
	raw  ed25519.PublicKey
	negA *edwards25519.Point
}

// errWeakKey is a public key of small order: anyone could sign for it.
var errWeakKey = errors.New("the key is a point of small order")

func newSigKey(pub ed25519.PublicKey) (*sigKey, error) {
	a, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, err
	}
	if new(edwards25519.Point).MultByCofactor(a).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, errWeakKey
	}
	return &sigKey{raw: pub, negA: new(edwards25519.Point).Negate(a)}, nil
}

// checkPublicKey refuses a key no signature can be trusted under: not 32
// bytes, not the encoding of a point of the curve, or a point of small
// order.
func checkPublicKey(pub []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fail(protocol.CodeBadPublicKey, "a public key is %d bytes of ed25519, got %d", ed25519.PublicKeySize, len(pub))
	}
	switch _, err := newSigKey(pub); {
	case errors.Is(err, errWeakKey):
		return fail(protocol.CodeBadPublicKey, "the public key is a point of small order, for which anyone could sign")
	case err != nil:
		return fail(protocol.CodeBadPublicKey, "the public key's 32 bytes do not encode a point of the ed25519 curve")
	}
	return nil
}

type sigCheck struct {
	key      *sigKey
	msg, sig []byte
	ok       chan bool
}

// sigChecker runs checking goroutines fed from one queue.
type sigChecker struct {
	queue chan *sigCheck
	done  chan struct{} // closed by close; checks after it fail
	wg    sync.WaitGroup
	pool  sync.Pool
}

func newSigChecker() *sigChecker {
	c := &sigChecker{queue: make(chan *sigCheck, 4096), done: make(chan struct{})}
	c.pool.New = func() any { return &sigCheck{ok: make(chan bool, 1)} }
	// One checker per two cores: a checker alone reaches about 50,000
	// signatures a second here, and fewer checkers make larger batches.
	for range max(1, runtime.GOMAXPROCS(0)/2) {
		c.wg.Go(c.run)
	}
	return c
}

// check verifies sig over msg with key; safe for concurrent use.
func (c *sigChecker) check(key *sigKey, msg, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize {
		return false
	}
	r := c.pool.Get().(*sigCheck)
	r.key, r.msg, r.sig = key, msg, sig
	select {
	case c.queue <- r:
	case <-c.done:
		return false
	}
	select {
	case ok := <-r.ok:
		r.key, r.msg, r.sig = nil, nil, nil
		c.pool.Put(r)
		return ok
	case <-c.done:
		return false // r may still be in a checker's hands: not reused
	}
}

// close stops the checkers; checks still waiting fail.
func (c *sigChecker) close() {
	close(c.done)
	c.wg.Wait()
}

func (c *sigChecker) run() {
	batch := make([]*sigCheck, 0, maxSigBatch)
	gather := time.NewTimer(sigGather)
	for {
		var r *sigCheck
		select {
		case r = <-c.queue:
		case <-c.done:
			return
		}
		batch = append(batch[:0], r)
		gather.Reset(sigGather)
	fill:
		for len(batch) < maxSigBatch {
			select {
			case r := <-c.queue:
				batch = append(batch, r)
			case <-gather.C:
				break fill
			}
		}
		if len(batch) > 1 && verifyBatch(batch) {
			for _, r := range batch {
				r.ok <- true
			}
			continue
		}
		for _, r := range batch {
			r.ok <- verifyOne(r)
		}
	}
}

// parsed is a signature's R, s and challenge k = H(R ‖ A ‖ msg).
func parse(r *sigCheck) (R *edwards25519.Point, s, k *edwards25519.Scalar, ok bool) {
	s, err := edwards25519.NewScalar().SetCanonicalBytes(r.sig[32:])
	if err != nil {
		return nil, nil, nil, false
	}
	R, err = new(edwards25519.Point).SetBytes(r.sig[:32])
	if err != nil {
		return nil, nil, nil, false
	}
	h := sha512.New()
	h.Write(r.sig[:32])
	h.Write(r.key.raw)
	h.Write(r.msg)
	var d [64]byte
	k, _ = edwards25519.NewScalar().SetUniformBytes(h.Sum(d[:0]))
	return R, s, k, true
}

// verifyOne checks [8]([s]B − [k]A − R) = 0.
func verifyOne(r *sigCheck) bool {
	R, s, k, ok := parse(r)
	if !ok {
		return false
	}
	p := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, r.key.negA, s)
	p.Subtract(p, R)
	p.MultByCofactor(p)
	return p.Equal(edwards25519.NewIdentityPoint()) == 1
}

// verifyBatch checks Σ zᵢ·[8]([sᵢ]B − Rᵢ − [kᵢ]Aᵢ) = 0 for random 128-bit zᵢ,
// which holds for a batch with a bad signature with probability 2⁻¹²⁸.
func verifyBatch(batch []*sigCheck) bool {
	scalars := make([]*edwards25519.Scalar, 0, 2*len(batch)+1)
	points := make([]*edwards25519.Point, 0, 2*len(batch)+1)
	sumZS := edwards25519.NewScalar()
	var zb [64]byte
	for _, r := range batch {
		R, s, k, ok := parse(r)
		if !ok {
			return false
		}
		rand.Read(zb[:16])
		z, _ := edwards25519.NewScalar().SetUniformBytes(zb[:])
		sumZS.MultiplyAdd(z, s, sumZS)
		negZ := edwards25519.NewScalar().Negate(z)
		scalars = append(scalars, negZ, edwards25519.NewScalar().Multiply(z, k))
		points = append(points, R, r.key.negA)
	}
	scalars = append(scalars, sumZS)
	points = append(points, edwards25519.NewGeneratorPoint())
	p := new(edwards25519.Point).VarTimeMultiScalarMult(scalars, points)
	p.MultByCofactor(p)
	return p.Equal(edwards25519.NewIdentityPoint()) == 1
}

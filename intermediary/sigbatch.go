package intermediary

import (
	"crypto/ed25519"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/edbatch"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// Signature checks are the largest cost of a payment at the bank (about
// 45 µs each on our machine). Under load, instructions arriving together
// are checked together in one batch (package edbatch: about 20 µs a
// signature in batches of 32 or more, with the cofactored equation for
// batches and for the one-by-one check alike). A checker gathers what
// arrives within sigGather (2 ms) of the first request (or maxSigBatch
// requests), so a request waits at most that long for company; at low
// load a batch is one signature.

const (
	maxSigBatch = 64
	sigGather   = 2 * time.Millisecond
)

// sigKey is a wallet's public key, decompressed once.
type sigKey = edbatch.Key

func newSigKey(pub ed25519.PublicKey) (*sigKey, error) { return edbatch.NewKey(pub) }

// checkPublicKey refuses a key no signature can be trusted under: not 32
// bytes, not the encoding of a point of the curve, or a point of small
// order.
func checkPublicKey(pub []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fail(protocol.CodeBadPublicKey, "a public key is %d bytes of ed25519, got %d", ed25519.PublicKeySize, len(pub))
	}
	switch _, err := newSigKey(pub); {
	case errors.Is(err, edbatch.ErrWeakKey):
		return fail(protocol.CodeBadPublicKey, "the public key is a point of small order, for which anyone could sign")
	case err != nil:
		return fail(protocol.CodeBadPublicKey, "the public key's 32 bytes do not encode a point of the ed25519 curve")
	}
	return nil
}

type sigCheck struct {
	edbatch.Item
	ok chan bool
}

// SignatureChecker checks wallets' signatures in batches. The banks of one
// process share one (Config.SignatureChecker), so that instructions
// arriving at any of them together are checked in one batch: a batch costs
// less per signature the more it holds, and a sandbox's banks each see a
// fraction of its traffic. Its goroutines run while a bank uses it.
type SignatureChecker struct {
	mu    sync.Mutex
	users int
	c     *sigChecker
}

// NewSignatureChecker returns a checker for banks to share.
func NewSignatureChecker() *SignatureChecker { return &SignatureChecker{} }

// attach starts the checker for one more bank.
func (s *SignatureChecker) attach() *sigChecker {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users == 0 {
		s.c = newSigChecker()
	}
	s.users++
	return s.c
}

// detach lets go of what attach returned; the last bank to leave stops
// the checker.
func (s *SignatureChecker) detach() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users--; s.users == 0 {
		s.c.close()
		s.c = nil
	}
}

// sigChecker runs checking goroutines fed from one queue.
type sigChecker struct {
	queue chan *sigCheck
	done  chan struct{} // closed by close; checks after it fail
	wg    sync.WaitGroup
	pool  sync.Pool

	checkedAlone atomic.Int64 // checks made outside batches, for tests
}

func newSigChecker() *sigChecker {
	c := &sigChecker{queue: make(chan *sigCheck, 4096), done: make(chan struct{})}
	c.pool.New = func() any { return &sigCheck{ok: make(chan bool, 1)} }
	// One checker per two cores: a checker alone reaches about 50,000
	// signatures a second here, and fewer checkers make larger batches.
	// The banks of a process share them (SignatureChecker).
	for range max(1, runtime.GOMAXPROCS(0)/2) {
		c.wg.Go(c.run)
	}
	return c
}

// check verifies sig over msg with key; safe for concurrent use. alone
// checks it on the caller's goroutine, outside any batch.
func (c *sigChecker) check(key *sigKey, msg, sig []byte, alone bool) bool {
	if len(sig) != ed25519.SignatureSize {
		return false
	}
	if alone {
		c.checkedAlone.Add(1)
		return edbatch.VerifyOne(&edbatch.Item{Key: key, Msg: msg, Sig: sig})
	}
	r := c.pool.Get().(*sigCheck)
	r.Item = edbatch.Item{Key: key, Msg: msg, Sig: sig}
	select {
	case c.queue <- r:
	case <-c.done:
		return false
	}
	select {
	case ok := <-r.ok:
		r.Item = edbatch.Item{}
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
	items := make([]*edbatch.Item, 0, maxSigBatch)
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
		items = items[:0]
		for _, r := range batch {
			items = append(items, &r.Item)
		}
		if len(batch) > 1 && edbatch.VerifyBatch(items) {
			for _, r := range batch {
				r.ok <- true
			}
			continue
		}
		for _, r := range batch {
			r.ok <- edbatch.VerifyOne(&r.Item)
		}
	}
}

package ledgerhttp_test

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
)

// Callers racing on a replica that cannot be reached turn from it once,
// not once each: with two replicas, turning twice would bring them back.
func TestClient_ConcurrentCallersTurnFromAReplicaOnce(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	good := bankOneLedger(t, pub)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // nothing listens there now
	c := ledgerhttp.NewClientWith(deadURL+","+good.URL, "bank-1", key, ledgerhttp.ClientOptions{
		Breaker: ledgerhttp.BreakerOptions{Failures: 100, BackoffMin: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond}})
	start := make(chan struct{})
	done := make(chan error, 32)
	for range 32 {
		go func() {
			<-start
			_, err := c.Account(ctx, "bank-1")
			done <- err
		}()
	}
	close(start)
	for range 32 {
		<-done
	}
	if c.Replica() != good.URL {
		t.Fatalf("after the race the client calls %s, want %s", c.Replica(), good.URL)
	}
	if _, err := c.Account(ctx, "bank-1"); err != nil {
		t.Fatalf("a call after the race: %v", err)
	}
}

// A replica that takes connections but never answers opens the circuit on
// the first call's deadline; the client turns from it, and once the
// backoff has passed its probe reaches the next replica and calls go on.
func TestClient_BlackHoledReplicaCostsOneDeadlineAndABackoff(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	good := bankOneLedger(t, pub)
	hang := make(chan struct{})
	hole := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer hole.Close()
	defer close(hang)
	c := ledgerhttp.NewClientWith(hole.URL+","+good.URL, "bank-1", key, ledgerhttp.ClientOptions{CallTimeout: 200 * time.Millisecond,
		Breaker: ledgerhttp.BreakerOptions{BackoffMin: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond}})
	began := time.Now()
	var calls int
	for ; ctx.Err() == nil; calls++ {
		if _, err := c.Account(ctx, "bank-1"); err == nil {
			break
		} else if ledger.OutcomeOf(err) != ledger.InDoubt {
			t.Fatalf("call %d: %v", calls, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if took := time.Since(began); took > 2*time.Second || c.Replica() != good.URL {
		t.Errorf("reached %s after %v and %d failed calls", c.Replica(), took, calls)
	}
}

// bankOneLedger serves a lone ledger holding bank-1 (with a float of
// 1,000 yen) to the holder of pub: a healthy replica, for the client's
// turning to reach.
func bankOneLedger(t *testing.T, pub ed25519.PublicKey) *httptest.Server {
	t.Helper()
	_, s := serveBankOne(t, pub, ledgerhttp.ServerOptions{})
	return s
}

// serveBankOne serves a ledger with bank-1 open and given float.
func serveBankOne(t *testing.T, pub ed25519.PublicKey, opts ledgerhttp.ServerOptions) (*ledger.Ledger, *httptest.Server) {
	t.Helper()
	l, err := ledger.Open(t.TempDir(), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx := context.Background()
	if _, err := l.OpenAccount(ctx, "open-bank-1", ledger.AccountSpec{ID: "bank-1", Kind: ledger.KindIntermediary}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Issue(ctx, "issue-1", "bank-1", 1000); err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(ledgerhttp.NewServer(l, map[ledger.AccountID]ed25519.PublicKey{"bank-1": pub}, opts))
	t.Cleanup(s.Close)
	return l, s
}

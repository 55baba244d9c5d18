package ledgerhttp

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/freezer"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// A frozen ledger costs a caller one deadline, not a hang: the call ends
// with an outcome-unknown error, the circuit opens and the calls after it
// fail at once without reaching the ledger. Once the ledger answers
// again a probe closes the circuit, and the operation asked again under
// its op id finds its first outcome.
func TestClient_FrozenLedger(t *testing.T) {
	n := newTestNet(t)
	f := &freezer.Handler{H: n.srv.Config.Handler}
	n.srv.Config.Handler = f
	const deadline = 300 * time.Millisecond
	a := NewClientWith(n.srv.URL, "bank-a", n.keys["bank-a"], ClientOptions{HTTP: n.srv.Client(), CallTimeout: deadline,
		Breaker: BreakerOptions{BackoffMin: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond}})
	n.must(a.OpenAccount(n.ctx, "open-alice", ledger.AccountSpec{ID: "alice", Kind: ledger.KindWallet}))
	n.must(a.Issue(n.ctx, "float", 1_000))

	f.Freeze()
	start := time.Now()
	_, err := a.Transfer(n.ctx, "withdraw-1", "bank-a", "alice", 300)
	took := time.Since(start)
	var ue *UnreachableError
	if !errors.As(err, &ue) || !errors.Is(err, context.DeadlineExceeded) || ledger.ErrorCode(err) != "" {
		t.Fatalf("transfer to a frozen ledger: %v, want an *UnreachableError of its deadline with no ledger code", err)
	}
	if took > deadline+3*time.Second { // generous: a loaded machine
		t.Errorf("the transfer took %s to fail, want about its deadline of %s", took, deadline)
	}
	if a.Reachable() == nil {
		t.Error("Reachable = nil after a call ran out of time")
	}
	reached := f.Requests.Load()
	_, err = a.Transfer(n.ctx, "withdraw-2", "bank-a", "alice", 1)
	if !errors.Is(err, ErrCircuitOpen) || !errors.As(err, &ue) || ue.RetryAfter() <= 0 {
		t.Fatalf("the next transfer: %v, want ErrCircuitOpen with a retry hint", err)
	}
	if _, _, err := a.Feed(n.ctx, 0, 10); !errors.Is(err, ErrCircuitOpen) {
		t.Errorf("a long poll with the circuit open: %v, want ErrCircuitOpen", err)
	}
	if got := f.Requests.Load(); got != reached {
		t.Errorf("%d requests reached the ledger with the circuit open", got-reached)
	}

	f.Thaw()
	waitReady(t, a)
	again := n.must(a.Transfer(n.ctx, "withdraw-1", "bank-a", "alice", 300))
	if acct, err := a.Account(n.ctx, "alice"); err != nil || acct.Balance != 300 {
		t.Errorf("alice holds %d (%v) after the transfer asked again (seq %d); want 300: applied once", acct.Balance, err, again.Seq)
	}
}

// waitReady asks until the probe closes the circuit.
func waitReady(t *testing.T, c *Client) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ready(context.Background())
		if err == nil && c.Reachable() == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ledger is not reachable again: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countingDialer counts the connections a client tries to open.
type countingDialer struct{ dials atomic.Int64 }

func (d *countingDialer) client() *http.Client {
	tr := NewTransport(nil)
	inner := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		d.dials.Add(1)
		return inner(ctx, network, addr)
	}
	return &http.Client{Transport: tr}
}

// A ledger that is gone is not dialled for every call: after the
// failures that open the circuit, only probes reach for it, one per
// backoff.
func TestClient_DeadLedgerIsDialledOncePerBackoff(t *testing.T) {
	var d countingDialer
	clock := &fakeClock{t: time.Unix(1000, 0)}
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock.now() }
	advance := func(dt time.Duration) { mu.Lock(); clock.add(dt); mu.Unlock() }
	_, key, _ := ed25519.GenerateKey(nil)
	c := NewClientWith("http://127.0.0.1:"+strconv.Itoa(freeLoopbackPort(t)), "bank-a", key, ClientOptions{HTTP: d.client(),
		Breaker: BreakerOptions{Failures: 3, BackoffMin: time.Second, BackoffMax: 4 * time.Second, Now: now, Jitter: fullWait}})
	for range 100 {
		_, err := c.Transfer(context.Background(), "pay", "alice", "bob", 1)
		if ledger.ErrorCode(err) != "" || !errors.As(err, new(*UnreachableError)) {
			t.Fatalf("transfer to a dead ledger: %v, want an *UnreachableError", err)
		}
	}
	if got := d.dials.Load(); got != 3 {
		t.Fatalf("%d dials for 100 calls before any backoff passed, want 3 (the failures that open the circuit)", got)
	}
	for i, backoff := range []time.Duration{1, 2, 4, 4} {
		advance(backoff * time.Second)
		for range 50 {
			c.Transfer(context.Background(), "pay", "alice", "bob", 1)
		}
		if got, want := d.dials.Load(), int64(4+i); got != want {
			t.Fatalf("after backoff %d: %d dials, want %d (one probe per backoff)", i+1, got, want)
		}
	}
}

// Ready tells a ledger that answers it cannot take operations from one
// that does not answer, and only the second opens the circuit.
func TestClient_ReadyTellsNotReadyFromUnreachable(t *testing.T) {
	status, body := http.StatusServiceUnavailable, "not ready: ledger: storage failed: no space left on device\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	defer srv.Close()
	_, key, _ := ed25519.GenerateKey(nil)
	c := NewClientWith(srv.URL, "bank-a", key, ClientOptions{HTTP: srv.Client(), Breaker: BreakerOptions{Failures: 1}})
	err := c.Ready(context.Background())
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "no space left on device") {
		t.Errorf("Ready of a ledger whose storage failed: %v, want ErrNotReady with its reason", err)
	}
	if c.Reachable() != nil {
		t.Errorf("a ledger that answered is taken for unreachable: %v", c.Reachable())
	}
	status, body = http.StatusBadGateway, "bad gateway"
	if err := c.Ready(context.Background()); !errors.As(err, new(*UnreachableError)) {
		t.Errorf("Ready behind a proxy that cannot reach the ledger: %v, want an *UnreachableError", err)
	}
	if c.Reachable() == nil {
		t.Error("Reachable = nil after the proxy answered for the ledger")
	}
}

func ed25519GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(nil)
}

func itoa(n int) string { return strconv.Itoa(n) }

// A ledger whose certificate the bank does not trust is no outage: the
// call fails with the reason, and the circuit stays closed.
func TestClient_UntrustedCertificateIsNotAnOutage(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, key, _ := ed25519.GenerateKey(nil)
	c := NewClientWith(srv.URL, "bank-a", key, ClientOptions{Breaker: BreakerOptions{Failures: 1}}) // trusts only the system's roots
	_, err := c.Account(context.Background(), "bank-a")
	if err == nil || errors.As(err, new(*UnreachableError)) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a call to a ledger with an untrusted certificate: %v, want the certificate's error, not an *UnreachableError", err)
	}
	if c.Reachable() != nil {
		t.Errorf("the circuit opened: %v", c.Reachable())
	}
}

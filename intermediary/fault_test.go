package intermediary_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/freezer"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// readyz returns the bank's /readyz status and text.
func readyz(t *testing.T, b *testBank) (int, string) {
	t.Helper()
	resp, err := http.Get(b.http + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitReadyz waits until /readyz answers status, and says how long it took.
func waitReadyz(t *testing.T, b *testBank, status int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got, body := readyz(t, b)
		if got == status {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("/readyz still answers %d (%q) after %s, want %d", got, body, within, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// payUntilAnswered retries a payment with its request id while the bank
// answers unavailable, waiting at least as long as its hint says.
func payUntilAnswered(t *testing.T, ctx context.Context, c *wallet.Client, id, to string, amount int64) *protocol.Paid {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := c.Pay(ctx, id, to, amount)
		var pe *protocol.Error
		if err == nil || !errors.As(err, &pe) || pe.Code != protocol.CodeUnavailable || time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("pay %s: %v", id, err)
			}
			return p
		}
		time.Sleep(max(pe.RetryAfter(), 50*time.Millisecond))
	}
}

// A bank whose ledger freezes answers wallets unavailable within the
// ledger call's deadline of 2 s, and at once after that, with a retry
// hint; its /readyz says so within a second or two; once the ledger
// answers again both recover, and the payment asked again under its
// request id is made once.
func TestBank_FrozenLedger(t *testing.T) {
	var srv *httptest.Server
	t.Cleanup(func() { // after the net's own check, which still asks the ledger
		if srv != nil {
			srv.Close()
		}
	})
	n := newTestNet(t, 0, nil)
	f := &freezer.Handler{}
	bank := n.addBank("bank-1", func(c *intermediary.Config) {
		key := newKey(t)
		f.H = ledgerhttp.NewServer(n.ledger, map[ledger.AccountID]ed25519.PublicKey{c.ID: publicOf(key)}, ledgerhttp.ServerOptions{})
		srv = httptest.NewServer(f)
		c.Ledger = ledgerhttp.NewClientWith(srv.URL, c.ID, key, ledgerhttp.ClientOptions{HTTP: srv.Client()})
	})
	alice := n.register("bank-1", "Alice", "P-ALICE")
	bob := n.register("bank-1", "Bob", "P-BOB")
	if _, err := alice.Withdraw(n.ctx, "w1", 10_000); err != nil {
		t.Fatal(err)
	}
	if status, body := readyz(t, bank); status != http.StatusOK {
		t.Fatalf("/readyz = %d %q before the fault", status, body)
	}

	f.Freeze()
	frozen := time.Now()
	_, err := alice.Pay(n.ctx, "pay-1", bob.Address(), 100)
	took := time.Since(frozen)
	mustCode(t, err, protocol.CodeUnavailable)
	if took > 5*time.Second { // the bound is 2 s; the rest is slack for a loaded machine
		t.Errorf("a payment with the ledger frozen was answered after %s, want about 2s", took)
	}
	_, err = alice.Pay(n.ctx, "pay-2", bob.Address(), 100)
	mustCode(t, err, protocol.CodeUnavailable)
	var pe *protocol.Error
	if errors.As(err, &pe); pe.RetryAfterMS <= 0 {
		t.Errorf("unavailable with the circuit open carries no retry hint: %+v", pe)
	}
	waitReadyz(t, bank, http.StatusServiceUnavailable, 5*time.Second-time.Since(frozen))
	if _, body := readyz(t, bank); !strings.Contains(body, "central ledger") {
		t.Errorf("/readyz does not say why: %q", body)
	}

	f.Thaw()
	t.Logf("ready again %s after the ledger answers", waitReadyz(t, bank, http.StatusOK, 10*time.Second))
	payUntilAnswered(t, n.ctx, alice, "pay-1", bob.Address(), 100)
	payUntilAnswered(t, n.ctx, alice, "pay-2", bob.Address(), 100)
	payUntilAnswered(t, n.ctx, alice, "pay-1", bob.Address(), 100) // answered from the first outcome
	if got := balance(t, n.ctx, bob); got != 200 {
		t.Errorf("bob holds %d, want 200: each payment once", got)
	}
}

// storageFaults is an in-process ledger whose commits fail, while told
// to, as a ledger whose disk is full would fail them.
type storageFaults struct {
	*ledger.Intermediary
	failing atomic.Bool
}

func (s *storageFaults) Transfer(ctx context.Context, opID string, from, to ledger.AccountID, amount int64) (ledger.Receipt, error) {
	if s.failing.Load() {
		return ledger.Receipt{}, ledger.ErrStorage
	}
	return s.Intermediary.Transfer(ctx, opID, from, to, amount)
}

// A ledger that answers but cannot commit makes the bank unready at the
// first commit it fails, without waiting for a look at the ledger; a
// commit that succeeds makes it ready again.
func TestBank_LedgerThatCannotCommit(t *testing.T) {
	var faults *storageFaults
	n := newTestNet(t, 0, nil)
	bank := n.addBank("bank-1", func(c *intermediary.Config) {
		faults = &storageFaults{Intermediary: c.Ledger.(*ledger.Intermediary)}
		c.Ledger = faults
	})
	alice := n.register("bank-1", "Alice", "P-ALICE")
	bob := n.register("bank-1", "Bob", "P-BOB")
	if _, err := alice.Withdraw(n.ctx, "w1", 10_000); err != nil {
		t.Fatal(err)
	}
	faults.failing.Store(true)
	_, err := alice.Pay(n.ctx, "pay-1", bob.Address(), 100)
	mustCode(t, err, protocol.CodeUnavailable) // outcome unknown, never a refusal
	if status, body := readyz(t, bank); status != http.StatusServiceUnavailable || !strings.Contains(body, "cannot commit") {
		t.Errorf("/readyz after a commit failed for storage: %d %q, want 503 saying the ledger cannot commit", status, body)
	}
	faults.failing.Store(false)
	payUntilAnswered(t, n.ctx, alice, "pay-1", bob.Address(), 100)
	if status, body := readyz(t, bank); status != http.StatusOK {
		t.Errorf("/readyz after a commit succeeded again: %d %q", status, body)
	}
}

func publicOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

package intermediary_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// /healthz says the process runs; /readyz that the bank reaches its
// ledger, with no token needed for either.
func TestBank_HealthAndReadiness(t *testing.T) {
	n := newTestNet(t, 1, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(n.banks["bank-1"].http + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

// When the bank's own file fails, /healthz and /readyz fail with the
// reason, so a supervisor restarts the bank, and the bank refuses every
// change until then: it cannot know what its file holds.
func TestBank_HealthFailsWhenItsFileFails(t *testing.T) {
	n := newTestNet(t, 1, nil)
	b := n.banks["bank-1"]
	delete(n.banks, "bank-1") // its books cannot be read back at cleanup
	t.Cleanup(func() {
		b.srv.Close()
		b.Close()
	})
	intermediary.LoseStorage(b.Bank)
	for range 2 {
		_, err := b.IssueFloat(n.ctx, 1_000)
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeUnavailable {
			t.Errorf("issue float with a failed file: %v, want %s", err, protocol.CodeUnavailable)
		}
	}
	if b.Err() == nil {
		t.Error("Err is nil after a failed write")
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(b.http + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "storage") {
			t.Errorf("%s: %d %q, want 503 naming the storage", path, resp.StatusCode, body)
		}
	}
}

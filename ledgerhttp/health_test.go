package ledgerhttp

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
)

// /healthz and /readyz answer without a session.
func TestServer_HealthAndReadiness(t *testing.T) {
	n := newTestNet(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(n.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

// Once the ledger's storage, or settlement's index, has failed, the
// process refuses work until it is reopened: /healthz asks for a restart
// and /readyz for no traffic, both saying why.
func TestServer_HealthFailsAfterStorageFailure(t *testing.T) {
	n := newTestNet(t)
	srv := NewServer(n.l, nil, ServerOptions{})
	for _, failure := range []error{ledger.ErrStorage, settlement.ErrStopped} {
		srv.failed = func() error { return failure }
		for _, path := range []string{"/healthz", "/readyz"} {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), failure.Error()) {
				t.Errorf("%s after %v: %d %q, want 503 with the cause", path, failure, rec.Code, rec.Body)
			}
		}
	}
}

package ledgerhttp

import (
	"net/http"
	"testing"
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

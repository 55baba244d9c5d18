package intermediary_test

import (
	"net/http"
	"testing"
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

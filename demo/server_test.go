package demo

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/offline"
)

// Other web sites cannot drive the demo: not by a form, not from another
// origin, not by rebinding their name to this machine.
func TestGuard_KeepsOtherSitesOut(t *testing.T) {
	web := sandbox(t)
	post := func(ct, origin, host string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, web.URL+"/api/wallets", strings.NewReader(`{"name":"Mallory","bank":"bank-1"}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		name, ct, origin, host string
		want                   int
	}{
		{"a form on another site", "text/plain", "http://evil.example", "", http.StatusUnsupportedMediaType},
		{"a script on another origin", "application/json", "http://evil.example", "", http.StatusForbidden},
		{"a rebound name", "application/json", "", "evil.example:7500", http.StatusForbidden},
		{"the demo's own page", "application/json", strings.TrimSuffix(web.URL, "/"), "", http.StatusCreated},
	} {
		if got := post(c.ct, c.origin, c.host); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/api/state", nil)
	req.Host = "localhost:7500"
	(&Server{mux: http.NewServeMux()}).guard(rec, req)
	if rec.Code == http.StatusForbidden {
		t.Error("localhost refused")
	}
}

// The payee's checks are shown passed only up to the one that failed; a
// failure no check names leaves them all unmarked.
func TestExplain_MarksOnlyChecksMade(t *testing.T) {
	count := func(cs []Check, result string) int {
		n := 0
		for _, c := range cs {
			if c.Result == result {
				n++
			}
		}
		return n
	}
	if cs := explain(nil); count(cs, "passed") != len(checkSteps) {
		t.Errorf("accepted voucher: %+v", cs)
	}
	cs := explain(offline.ErrRevoked)
	if count(cs, "passed") != 2 || cs[2].Result != "failed" || count(cs, "not_reached") != len(checkSteps)-3 {
		t.Errorf("revoked payer: %+v", cs)
	}
	cs = explain(offline.ErrNotProvisioned)
	if count(cs, "passed") != 0 || cs[0].Result != "failed" || count(cs, "not_reached") != len(checkSteps) {
		t.Errorf("a failure no check names: %+v", cs)
	}
}

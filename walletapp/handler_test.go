package walletapp_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/walletapp"
)

// The app's files carry an ETag (a phone fetches the purse again only
// when it changed) and the headers that keep the page, which holds a
// signing key, to its own files and out of other sites' frames.
func TestHandler_CachesAndProtects(t *testing.T) {
	srv := httptest.NewServer(walletapp.Handler())
	defer srv.Close()
	get := func(path, etag string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, path := range []string{"/wallet/", "/wallet/app.js", "/wallet/sw.js"} {
		resp := get(path, "")
		tag := resp.Header.Get("ETag")
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != http.StatusOK || tag == "" || !strings.Contains(csp, "frame-ancestors 'none'") ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %s, ETag %q, CSP %q", path, resp.Status, tag, csp)
			continue
		}
		if again := get(path, tag); again.StatusCode != http.StatusNotModified {
			t.Errorf("%s with its ETag: %s, want 304", path, again.Status)
		}
		if other := get(path, `"0000"`); other.StatusCode != http.StatusOK {
			t.Errorf("%s with another ETag: %s, want 200", path, other.Status)
		}
	}
	if resp := get("/wallet/sw.js", ""); resp.Header.Get("Service-Worker-Allowed") != walletapp.Path {
		t.Errorf("sw.js: Service-Worker-Allowed %q", resp.Header.Get("Service-Worker-Allowed"))
	}
	if resp := get("/wallet/nothing.js", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a file the app does not have: %s", resp.Status)
	}
}

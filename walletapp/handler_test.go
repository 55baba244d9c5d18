package walletapp_test

import (
	"bytes"
	"compress/gzip"
	"io"
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

// A browser that takes gzip gets the app's files gzipped, each the same
// bytes once unzipped, under a tag of its own; one that refuses it, or
// asks for a range, gets them as they are.
func TestHandler_GzipsForBrowsersThatTakeIt(t *testing.T) {
	srv := httptest.NewServer(walletapp.Handler())
	defer srv.Close()
	fetch := func(path string, header ...string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultTransport.RoundTrip(req) // no transparent unzipping
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	files := []string{"/wallet/", "/wallet/app.js"}
	if walletapp.Built() {
		files = append(files, "/wallet/purse.wasm")
	}
	for _, path := range files {
		plain, want := fetch(path, "Accept-Encoding", "identity")
		zipped, body := fetch(path, "Accept-Encoding", "br, gzip;q=0.8")
		if zipped.Header.Get("Content-Encoding") != "gzip" || plain.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s: Content-Encoding %q gzipped, %q plain", path, zipped.Header.Get("Content-Encoding"), plain.Header.Get("Content-Encoding"))
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s unzipped: %d bytes (%v), want the %d bytes served plain", path, len(got), err, len(want))
		}
		if len(body) >= len(want) {
			t.Errorf("%s: %d bytes gzipped, %d plain", path, len(body), len(want))
		}
		tag := zipped.Header.Get("ETag")
		if tag == "" || tag == plain.Header.Get("ETag") || !strings.Contains(zipped.Header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("%s: gzipped ETag %q, plain %q, Vary %q", path, tag, plain.Header.Get("ETag"), zipped.Header.Get("Vary"))
		}
		if again, _ := fetch(path, "Accept-Encoding", "gzip", "If-None-Match", tag); again.StatusCode != http.StatusNotModified {
			t.Errorf("%s with its gzipped ETag: %s, want 304", path, again.Status)
		}
		for _, refusing := range []string{"gzip;q=0", "gzip; q=0.000", "identity, gzip;q=0.0, br", "gzip;q=0, *", "br"} {
			if refused, _ := fetch(path, "Accept-Encoding", refusing); refused.Header.Get("Content-Encoding") != "" {
				t.Errorf("%s with Accept-Encoding %q: Content-Encoding %q", path, refusing, refused.Header.Get("Content-Encoding"))
			}
		}
		if any, _ := fetch(path, "Accept-Encoding", "*;q=0.5"); any.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%s with Accept-Encoding *: Content-Encoding %q, want gzip", path, any.Header.Get("Content-Encoding"))
		}
		if ranged, part := fetch(path, "Accept-Encoding", "gzip", "Range", "bytes=0-9"); ranged.StatusCode != http.StatusPartialContent ||
			ranged.Header.Get("Content-Encoding") != "" || !bytes.Equal(part, want[:10]) || !strings.Contains(ranged.Header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("%s, a range: %s, Content-Encoding %q, Vary %q, %q", path, ranged.Status, ranged.Header.Get("Content-Encoding"), ranged.Header.Get("Vary"), part)
		}
	}
}

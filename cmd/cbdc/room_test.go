package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// `cbdc sandbox -room` serves the demo and each bank's wallet app over
// HTTPS with certificates it makes once: the join page, reached by a
// phone trusting the room's authority, hands out that authority and a QR
// code of each wallet app; the app is served over HTTPS; plain HTTP is
// not served; started again, the same authority is kept; and a room on
// an address the certificates are not for is refused, saying what to do.
func TestSandbox_Room(t *testing.T) {
	dir := t.TempDir()
	args := []string{"-room", "-room-host", "127.0.0.1", "-data", dir, "-banks", "2", "-listen", "127.0.0.1:0", "-demo", "127.0.0.1:0", "-every", "1h"}
	banner, stop := startSandbox(t, args...)
	m := regexp.MustCompile(`Room: phones on this network join at (https://127\.0\.0\.1:\d+/join)`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no room in the banner:\n%s", banner)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "room-certs", caCertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	phone := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := phone.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, page := get(m[1])
	apps := regexp.MustCompile(`https://127\.0\.0\.1:\d+/wallet/`).FindAllString(page, -1)
	if status != http.StatusOK || len(apps) < 2 || strings.Count(page, "<svg") != 2 || !strings.Contains(page, "Certificate Trust Settings") {
		t.Fatalf("the join page: %d, wallet apps %v\n%.600s", status, apps, page)
	}
	if status, ca := get(strings.TrimSuffix(m[1], "join") + "room/ca.crt"); status != http.StatusOK || ca != string(caPEM) {
		t.Errorf("the authority from the join page: %d, the same as ca.pem: %v", status, ca == string(caPEM))
	}
	if status, app := get(apps[0]); status != http.StatusOK || !strings.Contains(app, "Digital yen wallet") {
		t.Errorf("a bank's wallet app over HTTPS: %d", status)
	}
	// The demo's own wallets reach the banks over the room's TLS too.
	resp, err := phone.Post(strings.TrimSuffix(m[1], "join")+"api/wallets", "application/json", strings.NewReader(`{"name": "Phone one", "bank": "bank-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(body), `"connected":true`) {
		t.Errorf("a demo wallet in the room: %s %s", resp.Status, body)
	}
	if resp, err := http.Get(strings.Replace(m[1], "https://", "http://", 1)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("the room's demo answered plain HTTP")
		}
	}
	stop()

	_, stop = startSandbox(t, args...)
	stop()
	if again, _ := os.ReadFile(filepath.Join(dir, "room-certs", caCertFile)); string(again) != string(caPEM) {
		t.Error("started again, the room made a new authority: every phone would have to trust it again")
	}
	moved := append([]string{}, args...)
	moved[2] = "127.0.0.2"
	if out, err := run(t, t.Context(), append([]string{"sandbox"}, moved...)...); err == nil ||
		!strings.Contains(err.Error(), "are for") || !strings.Contains(err.Error(), "delete that directory") {
		t.Errorf("a room on another address: %v\n%s", err, out)
	}
}

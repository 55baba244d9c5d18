package main

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/digital-yen/cbdc-sandbox/internal/browsertest"
	"github.com/digital-yen/cbdc-sandbox/walletapp"
)

// A phone's browser that trusts the room's certificate opens a bank's
// wallet app over the room's HTTPS as a secure context: its service
// worker installs, its wallet registers over wss, and the presenter's
// page, over the same HTTPS, shows it among the phones in the room.
func TestSandbox_RoomInABrowser(t *testing.T) {
	if !walletapp.Built() {
		if os.Getenv("CI") != "" {
			t.Fatal("the wallet app's purse is not built into this test binary: make test builds it first (make purse-wasm)")
		}
		t.Skip("the wallet app's purse is not built: run make purse-wasm, or make test")
	}
	dir := t.TempDir()
	banner, _ := startSandbox(t, "-room", "-room-host", "127.0.0.1", "-data", dir, "-banks", "1", "-listen", "127.0.0.1:0",
		"-demo", "127.0.0.1:0", "-every", "1h")
	m := regexp.MustCompile(`Room: phones on this network join at (https://127\.0\.0\.1:\d+)/join`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no room in the banner:\n%s", banner)
	}
	demoURL := m[1] + "/"
	// The banner names the bank's websocket; its app is beside it.
	ws := regexp.MustCompile(`wss://(127\.0\.0\.1:\d+)/v1/wallet`).FindStringSubmatch(banner)
	if ws == nil {
		t.Fatalf("no bank's websocket over TLS in the banner:\n%s", banner)
	}
	app := "https://" + ws[1] + walletapp.Path

	// Trust the room's server key, as a phone that installed the room's
	// authority trusts its certificate.
	raw, err := os.ReadFile(filepath.Join(dir, "room-certs", serverCertFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatal("the room's server certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	browser := browsertest.Start(t, 390, 844, 3*time.Minute,
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])))

	wait := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(browser, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			status, _ := chromedp.Run(browser, chromedp.Evaluate[string](`(document.querySelector("#status") || document.body).textContent`))
			t.Fatalf("waiting until %s: %v (the page says %.300q)", what, err, status)
		}
	}
	if err := chromedp.Do(browser, chromedp.Navigate(app), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`))); err != nil {
		t.Fatalf("the wallet app over the room's HTTPS: %v", err)
	}
	wait("the app is a secure context", `window.isSecureContext === true && location.protocol === "https:"`)
	if active, err := chromedp.Run(browser, chromedp.Evaluate[bool](`navigator.serviceWorker.ready.then((r) => !!r.active)`, chromedp.EvalAwaitPromise)); err != nil || !active {
		t.Fatalf("the app's service worker over the room's HTTPS: active %v, %v", active, err)
	}
	if err := chromedp.Do(browser, chromedp.SetValue(chromedp.CSS("#name"), "Room phone"), chromedp.SetValue(chromedp.CSS("#person"), "P-ROOM-1"),
		chromedp.Click(chromedp.CSS("#register"))); err != nil {
		t.Fatal(err)
	}
	wait("the wallet registers over wss", `document.querySelector("#address").textContent.includes("@bank-1")`)
	wait("it is online", `document.querySelector("#net").dataset.state === "online"`)

	if err := chromedp.Do(browser, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(demoURL),
		chromedp.WaitVisible(chromedp.CSS("#figures .figure"))); err != nil {
		t.Fatalf("the presenter's page over the room's HTTPS: %v", err)
	}
	wait("the panel shows the phone", `[...document.querySelectorAll("#phone-list li")].some((li) => li.textContent.includes("Room phone") && li.textContent.includes("bank-1"))`)
	wait("the presenter's page is a secure context too", `window.isSecureContext === true && location.protocol === "https:"`)
}

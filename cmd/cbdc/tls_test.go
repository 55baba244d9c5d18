package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A local test network over TLS: cbdc certs makes the certificates, the
// ledger and a bank serve with them, the bank trusts the ledger and the
// wallet CLI trusts the bank through -ca; clients without the CA, and
// plain connections, are refused.
func TestMultiProcess_TLS(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	out := mustCLI(t, nil, "certs", "-dir", certs)
	if !strings.Contains(out, "server certificate for 127.0.0.1,::1,localhost") {
		t.Errorf("cbdc certs printed:\n%s", out)
	}
	if _, errOut, code := cli(t, nil, "certs", "-dir", certs); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("cbdc certs again: exit %d, want 1 refusing to overwrite:\n%s", code, errOut)
	}
	if fi, err := os.Stat(filepath.Join(certs, serverKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("server key: %v, mode %v; want 0600", err, fi.Mode())
	}
	caPEM, _ := os.ReadFile(filepath.Join(certs, caCertFile))
	if block, _ := pem.Decode(caPEM); block == nil {
		t.Fatal("ca.pem holds no PEM block")
	} else if caCert, err := x509.ParseCertificate(block.Bytes); err != nil || !caCert.PermittedDNSDomainsCritical ||
		len(caCert.PermittedIPRanges) != 2 || len(caCert.PermittedDNSDomains) != 1 || caCert.PermittedDNSDomains[0] != "localhost" {
		t.Errorf("the CA is not held to the hosts given: %v %+v %v", err, caCert.PermittedIPRanges, caCert.PermittedDNSDomains)
	}
	serve := []string{"-tls-cert", filepath.Join(certs, serverCertFile), "-tls-key", filepath.Join(certs, serverKeyFile)}
	ca := filepath.Join(certs, caCertFile)

	led := startProc(t, "ledger", append([]string{"ledger", "-data", dir, "-listen", "127.0.0.1:0", "-banks", "1"}, serve...)...)
	ledgerURL := led.waitFor(t, ledgerServing)[1]
	if !strings.HasPrefix(ledgerURL, "https://") {
		t.Fatalf("the ledger serves at %s, want https://", ledgerURL)
	}
	// A bank that does not trust the local CA cannot sign in.
	_, errOut, code := cli(t, nil, append(bankArgs(dir, ledgerURL, "bank-1", "bank-1"), serve...)...)
	if code != 1 || !strings.Contains(errOut, "certificate signed by unknown authority") {
		t.Errorf("a bank without -ca: exit %d, want 1 naming the unknown authority:\n%s", code, errOut)
	}
	bank := startProc(t, "bank-1", append(bankArgs(dir, ledgerURL, "bank-1", "bank-1"), append(serve, "-ca", ca)...)...)
	walletURL := bank.waitFor(t, bankServing)[2]
	if !strings.HasPrefix(walletURL, "wss://") {
		t.Fatalf("the bank serves wallets at %s, want wss://", walletURL)
	}

	env := []string{walletPassphraseEnv + "=" + testPassphrase}
	key := filepath.Join(dir, "alice.key")
	mustCLI(t, env, "wallet", "new", "-key", key, "-kdf-memory", "1024")
	if _, errOut, code := cli(t, env, "wallet", "register", "-key", key, "-bank", walletURL, "-name", "Alice", "-person", "P-ALICE"); code != 1 ||
		!strings.Contains(errOut, "certificate signed by unknown authority") {
		t.Errorf("a wallet without -ca: exit %d, want 1 naming the unknown authority:\n%s", code, errOut)
	}
	mustCLI(t, env, "wallet", "register", "-key", key, "-bank", walletURL, "-ca", ca, "-name", "Alice", "-person", "P-ALICE")
	if out := mustCLI(t, env, "wallet", "balance", "-key", key, "-bank", walletURL, "-ca", ca); !strings.Contains(out, "deposit: 200000") {
		t.Errorf("wallet balance over TLS printed:\n%s", out)
	}

	// Plain websocket and plain HTTP to the TLS ports are refused.
	plain := strings.Replace(walletURL, "wss://", "ws://", 1)
	if c, _, err := websocket.DefaultDialer.Dial(plain, nil); err == nil {
		c.Close()
		t.Errorf("a plain ws:// connection to the TLS bank opened")
	}
	if resp, err := http.Get(strings.Replace(ledgerURL, "https://", "http://", 1) + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP to the TLS ledger answered %s", resp.Status)
		}
	}
	// With the CA, health checks work over TLS.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, u := range []string{ledgerURL + "/readyz", "https://" + hostOf(walletURL) + "/readyz"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := hc.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s over TLS: %v %v", u, resp, err)
			continue
		}
		resp.Body.Close()
	}
	// The simulator drives the TLS bank and reads the TLS ledger with -ca.
	scenario := filepath.Join(dir, "tls.json")
	if err := os.WriteFile(scenario, []byte(`{"name": "tls", "seed": 2, "banks": 1, "wallets": 10, "merchants": 0,
	  "start": {"wallet": {"dist": "fixed", "value": 20000}, "merchant": {"dist": "fixed", "value": 0}},
	  "payments": 20, "arrival": {"process": "fixed", "rate": 20},
	  "mix": {"person_to_person": 1, "merchant": 0, "amount": {"dist": "fixed", "value": 100}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = cli(t, nil, "sim", "-quiet", "-ca", ca, "-banks", "https://"+hostOf(walletURL),
		"-admin-tokens", filepath.Join(dir, "bank-1", "admin.token"),
		"-ledger", ledgerURL, "-ledger-key", filepath.Join(dir, "credentials", "bank-1.key"), scenario)
	if code != 0 || !strings.Contains(out, "conserved") {
		t.Errorf("cbdc sim over TLS: exit %d\n%s%s", code, out, errOut)
	}
	bank.interrupt(t)
	led.interrupt(t)
}

func hostOf(url string) string {
	rest := url[strings.Index(url, "://")+3:]
	return rest[:strings.IndexByte(rest, '/')]
}

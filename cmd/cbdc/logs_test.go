package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A wallet's request can be followed from the bank's log to the ledger's
// by its request id, and neither log holds a key, a token or what the
// customer told the bank about themselves.
func TestLogs_RequestIDsReachTheLedgerAndNothingPersonal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	led := startProc(t, "ledger", "ledger", "-data", dir, "-listen", "127.0.0.1:0", "-banks", "1", "-log-level", "debug")
	ledgerURL := led.waitFor(t, ledgerServing)[1]
	bank := startProc(t, "bank-1", append(bankArgs(dir, ledgerURL, "bank-1", "bank-1"), "-log-level", "debug")...)
	url := bank.waitFor(t, bankServing)[2]

	_, aliceKey, _ := ed25519.GenerateKey(nil)
	_, bobKey, _ := ed25519.GenerateKey(nil)
	alice := dialWallet(t, ctx, url, aliceKey, "Alice Secretname", "P-SECRET-4711")
	bob := dialWallet(t, ctx, url, bobKey, "Bob Hiddenname", "P-SECRET-4712")
	withdraw(t, ctx, alice, 5_000)
	if _, err := alice.Pay(ctx, "trace-pay-1", bob.Address(), 1_234); err != nil {
		t.Fatal(err)
	}
	m, err := bank.stderr.waitFor(regexp.MustCompile(`msg="wallet request" bank=bank-1 request_id=(bank-1-[0-9a-f]{12}) type=pay code=""`), bank.done, eventWait)
	if err != nil {
		t.Fatalf("the bank did not log the payment with a request id: %v", err)
	}
	if _, err := led.stderr.waitFor(regexp.MustCompile(`msg="ledger op" request_id=`+m[1]+` intermediary=bank-1 type=transfer seq=\d+ code=""`), led.done, eventWait); err != nil {
		t.Errorf("the ledger did not log the payment's op with request id %s: %v", m[1], err)
	}
	// Registering opens the wallet's account at the ledger under the
	// register request's id.
	m, err = bank.stderr.waitFor(regexp.MustCompile(`msg="wallet request" bank=bank-1 request_id=(bank-1-[0-9a-f]{12}) type=register code=""`), bank.done, eventWait)
	if err != nil {
		t.Fatalf("the bank did not log the registration with a request id: %v", err)
	}
	if _, err := led.stderr.waitFor(regexp.MustCompile(`msg="ledger op" request_id=`+m[1]+` intermediary=bank-1 type=open`), led.done, eventWait); err != nil {
		t.Errorf("the ledger did not log the registration's op with request id %s: %v", m[1], err)
	}
	alice.Close()
	bob.Close()
	bank.interrupt(t)
	led.interrupt(t)

	token, _ := os.ReadFile(filepath.Join(dir, "bank-1", "admin.token"))
	secrets := []string{"Secretname", "Hiddenname", "P-SECRET-4711", "P-SECRET-4712", strings.TrimSpace(string(token))}
	for _, k := range []ed25519.PrivateKey{aliceKey, bobKey} {
		secrets = append(secrets, hex.EncodeToString(k.Seed()), base64.StdEncoding.EncodeToString(k.Seed()), base64.StdEncoding.EncodeToString(k))
	}
	for _, p := range []*proc{led, bank} {
		all := p.stdout.String() + p.stderr.String()
		for _, s := range secrets {
			if strings.Contains(all, s) {
				t.Errorf("%s's output holds %q", p.name, s)
			}
		}
	}
}

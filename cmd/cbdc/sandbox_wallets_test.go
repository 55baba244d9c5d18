package main

import (
	"context"
	"crypto/ed25519"
	"regexp"
	"strings"
	"testing"
	"time"
)

var sandboxBank = regexp.MustCompile(`(?m)^  (bank-\d+)  wallets (ws://\S+)  admin`)

func TestSandbox_ServesWallets(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var stdout, stderr syncBuffer
	ran := make(chan error, 1)
	go func() {
		ran <- Run(runCtx, []string{"sandbox", "-data", dir, "-listen", "127.0.0.1:0", "-demo", "127.0.0.1:0", "-banks", "2", "-float", "30000000", "-every", "1h"},
			&stdout, &stderr)
	}()
	stopped := make(chan struct{})
	var runErr error
	go func() { runErr = <-ran; close(stopped) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-stopped:
		case <-time.After(stopWait):
			t.Errorf("the sandbox did not stop within %s", stopWait)
		}
		if t.Failed() {
			t.Logf("sandbox stdout:\n%s\nsandbox stderr:\n%s", stdout.String(), stderr.String())
		}
	})
	if _, err := stdout.waitFor(regexp.MustCompile(`Press Ctrl-C`), stopped, startWait); err != nil {
		select {
		case <-stopped:
			t.Fatalf("the sandbox ended before it served: %v", runErr)
		default:
			t.Fatalf("the sandbox printed no bank addresses: %v", err)
		}
	}
	urls := map[string]string{}
	for _, m := range sandboxBank.FindAllStringSubmatch(stdout.String(), -1) {
		urls[m[1]] = m[2]
	}
	if len(urls) != 2 {
		t.Fatalf("bank addresses = %v, want bank-1 and bank-2", urls)
	}

	_, aliceKey, _ := ed25519.GenerateKey(nil)
	_, bobKey, _ := ed25519.GenerateKey(nil)
	alice := dialWallet(t, ctx, urls["bank-1"], aliceKey, "Alice", "P-ALICE")
	bob := dialWallet(t, ctx, urls["bank-2"], bobKey, "Bob", "P-BOB")
	withdraw(t, ctx, alice, 20_000)
	pay(t, ctx, alice, bob, 7_000)
	pay(t, ctx, bob, alice, 2_000)
	if got := walletBalance(t, ctx, alice); got != 15_000 {
		t.Errorf("alice's balance = %d, want 15000", got)
	}
	if got := walletBalance(t, ctx, bob); got != 5_000 {
		t.Errorf("bob's balance = %d, want 5000", got)
	}

	// Stop with the sessions still open: the banks close them on the way out.
	stop()
	select {
	case <-stopped:
	case <-time.After(stopWait):
		t.Fatalf("the sandbox did not stop within %s of its context ending", stopWait)
	}
	if runErr != nil {
		t.Fatalf("sandbox: %v", runErr)
	}
	for _, c := range []interface{ Done() <-chan struct{} }{alice, bob} {
		select {
		case <-c.Done():
		case <-time.After(stopWait):
			t.Errorf("a wallet session outlived its bank")
		}
	}
	if !strings.Contains(stdout.String(), "cbdc sandbox: stopping") {
		t.Errorf("the sandbox did not say it was stopping:\n%s", stdout.String())
	}
	out, err := run(t, context.Background(), "audit", dir)
	if err != nil || !strings.Contains(out, "verdict: OK") || !regexp.MustCompile(`wallets\s+20000 yen`).MatchString(out) {
		t.Errorf("audit: %v, want verdict OK with 20000 yen in wallets\n%s", err, out)
	}
}

package main

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startSandbox runs `cbdc sandbox` with args until it serves, and
// returns what it printed so far and a func that stops it as Ctrl-C
// would and returns all it printed.
func startSandbox(t *testing.T, args ...string) (banner string, stop func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	stopped := make(chan struct{})
	var runErr error
	go func() {
		runErr = Run(ctx, append([]string{"sandbox"}, args...), &stdout, &stderr)
		close(stopped)
	}()
	once := false
	stop = func() string {
		t.Helper()
		if !once {
			once = true
			cancel()
			select {
			case <-stopped:
			case <-time.After(stopWait):
				t.Fatalf("the sandbox did not stop within %s", stopWait)
			}
			if runErr != nil {
				t.Errorf("sandbox: %v\n%s", runErr, stderr.String())
			}
		}
		return stdout.String()
	}
	t.Cleanup(func() { stop() })
	if _, err := stdout.waitFor(regexp.MustCompile(`Press Ctrl-C`), stopped, startWait); err != nil {
		<-stopped
		t.Fatalf("the sandbox did not serve: %v\n%s%s", runErr, stdout.String(), stderr.String())
	}
	return stdout.String(), stop
}

// `cbdc sandbox -replicas 3`, from a settings file and then from the
// environment: three replicas in the process, banks that pay through
// them, the demo; started again, the same group; its journals audited
// alike. The lone sandbox is refused on its directory, and so is a group
// of another size.
func TestSandbox_Replicated(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	file := writeFile(t, `{"replicas": 3, "banks": 2, "float": 30000000}`)
	common := []string{"-data", dir, "-listen", "127.0.0.1:0", "-demo", "127.0.0.1:0", "-every", "1h"}
	banner, stop := startSandbox(t, append(common, "-config", file)...)
	for _, want := range []string{"running as 3 replicas kept in step by Raft, with 2 intermediaries", "ledger-1  http://127.0.0.1:",
		"data " + filepath.Join(dir, "replica-3"), "the leader settles purses' vouchers", "shows the replicas and stops the leader",
		"cbdc audit " + filepath.Join(dir, "replica-1") + " " + filepath.Join(dir, "replica-2")} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner does not say %q:\n%s", want, banner)
		}
	}
	urls := map[string]string{}
	for _, m := range sandboxBank.FindAllStringSubmatch(banner, -1) {
		urls[m[1]] = m[2]
	}
	_, aliceKey, _ := ed25519.GenerateKey(nil)
	_, bobKey, _ := ed25519.GenerateKey(nil)
	alice := dialWallet(t, ctx, urls["bank-1"], aliceKey, "Alice", "P-ALICE")
	bob := dialWallet(t, ctx, urls["bank-2"], bobKey, "Bob", "P-BOB")
	withdraw(t, ctx, alice, 20_000)
	pay(t, ctx, alice, bob, 7_000)
	alice.Close()
	bob.Close()
	stop()

	t.Setenv("CBDC_SANDBOX_REPLICAS", "3")
	banner, stop = startSandbox(t, append(common, "-banks", "2", "-float", "30000000")...)
	if !strings.Contains(banner, "running as 3 replicas") {
		t.Errorf("started again from the environment:\n%s", banner)
	}
	if out := stop(); !strings.Contains(out, "intermediaries 59980000 + wallets 20000") {
		t.Errorf("started again, the books are not as they were:\n%s", out)
	}

	out, err := run(t, context.Background(), "audit", filepath.Join(dir, "replica-1"), filepath.Join(dir, "replica-2"), filepath.Join(dir, "replica-3"))
	if err != nil || !strings.Contains(out, "every replica sound, all at the same head") {
		t.Errorf("audit of the replicas: %v\n%s", err, out)
	}

	t.Setenv("CBDC_SANDBOX_REPLICAS", "1")
	if out, err := run(t, context.Background(), append([]string{"sandbox"}, common...)...); err == nil ||
		!strings.Contains(err.Error(), "holds a replicated central ledger of 3 replicas") {
		t.Errorf("a lone sandbox on the replicas' directory: %v\n%s", err, out)
	}
	if out, err := run(t, context.Background(), append([]string{"sandbox", "-replicas", "5"}, common...)...); err == nil ||
		!strings.Contains(err.Error(), "of 3 replicas, not 5") {
		t.Errorf("five replicas on a group of three: %v\n%s", err, out)
	}
}

func TestSandbox_RejectsBadReplicas(t *testing.T) {
	for _, n := range []string{"0", "2", "10"} {
		_, err := run(t, context.Background(), "sandbox", "-data", t.TempDir(), "-replicas", n)
		if err == nil || !strings.Contains(err.Error(), "-replicas must be 1 (one lone ledger) or 3 to 9") {
			t.Errorf("-replicas %s: %v", n, err)
		}
	}
	// A lone sandbox's directory takes no replicas.
	dir := t.TempDir()
	runSandboxBriefly(t, dir)
	if _, err := run(t, context.Background(), "sandbox", "-data", dir, "-replicas", "3", "-listen", "127.0.0.1:0", "-demo", ""); err == nil ||
		!strings.Contains(err.Error(), "holds a lone central ledger") {
		t.Errorf("replicas on a lone sandbox's directory: %v", err)
	}
}

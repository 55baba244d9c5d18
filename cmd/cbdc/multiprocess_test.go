package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// What the ledger and a bank print once they serve: the address to reach
// them at. The processes listen on port 0, so there is no port to race for.
var (
	ledgerServing = regexp.MustCompile(`cbdc ledger: serving \d+ intermediaries at (https?://[^\s]+)`)
	bankServing   = regexp.MustCompile(`cbdc bank: (bank-\d+) serving wallets at (wss?://\S+) `)
)

const testPassphrase = "correct horse battery staple"

// startLedger runs `cbdc ledger` on data directory dir and returns it with
// its address.
func startLedger(t *testing.T, dir string, banks int) (*proc, string) {
	t.Helper()
	p := startProc(t, "ledger", "ledger", "-data", dir, "-listen", "127.0.0.1:0", "-banks", fmt.Sprint(banks), "-float", "50000000")
	return p, p.waitFor(t, ledgerServing)[1]
}

// bankArgs are `cbdc bank`'s arguments for bank id signing in with the
// credential of keyOf.
func bankArgs(dir, ledgerURL, id, keyOf string) []string {
	return []string{"bank", "-id", id, "-ledger", ledgerURL, "-key", filepath.Join(dir, "credentials", keyOf+".key"),
		"-data", filepath.Join(dir, id), "-listen", "127.0.0.1:0", "-holder-key", filepath.Join(dir, "holder.key")}
}

// startTwoBanks runs a ledger and bank-1 and bank-2 as processes and
// returns their wallet addresses by bank. Both banks start at once: they
// race to create the holder key they share.
func startTwoBanks(t *testing.T, dir string) (led *proc, banks []*proc, urls map[string]string) {
	t.Helper()
	led, ledgerURL := startLedger(t, dir, 2)
	banks = []*proc{startProc(t, "bank-1", bankArgs(dir, ledgerURL, "bank-1", "bank-1")...),
		startProc(t, "bank-2", bankArgs(dir, ledgerURL, "bank-2", "bank-2")...)}
	urls = map[string]string{}
	for _, b := range banks {
		m := b.waitFor(t, bankServing)
		urls[m[1]] = m[2]
	}
	return led, banks, urls
}

func TestMultiProcess_TwoBanksPayEachOther(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	led, banks, urls := startTwoBanks(t, dir)

	// Alice: a key file made and registered at bank-1 with the CLI, then a
	// session opened on it with the library.
	env := []string{walletPassphraseEnv + "=" + testPassphrase}
	aliceKey := filepath.Join(dir, "alice.key")
	mustCLI(t, env, "wallet", "new", "-key", aliceKey, "-kdf-memory", "1024")
	out := mustCLI(t, env, "wallet", "register", "-key", aliceKey, "-bank", urls["bank-1"], "-name", "Alice", "-person", "P-ALICE", "-json")
	var welcome protocol.Welcome
	if err := json.Unmarshal([]byte(out), &welcome); err != nil || welcome.Bank != "bank-1" || !strings.HasSuffix(welcome.Wallet, "@bank-1") {
		t.Fatalf("wallet register printed %q (%v), want bank-1's welcome as JSON", out, err)
	}
	key, err := wallet.ReadKeyFile(aliceKey, []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	alice := dialWallet(t, ctx, urls["bank-1"], key, "", "")
	if alice.Address() != welcome.Wallet {
		t.Fatalf("alice's session is for %s, the CLI registered %s", alice.Address(), welcome.Wallet)
	}
	// Bob registers at bank-2 with the library.
	_, bobKey, _ := ed25519.GenerateKey(nil)
	bob := dialWallet(t, ctx, urls["bank-2"], bobKey, "Bob", "P-BOB")

	withdraw(t, ctx, alice, 40_000)
	withdraw(t, ctx, bob, 30_000)
	pay(t, ctx, alice, bob, 12_000)
	pay(t, ctx, bob, alice, 5_000)
	if got := walletBalance(t, ctx, alice); got != 33_000 {
		t.Errorf("alice's balance = %d, want 33000", got)
	}
	if got := walletBalance(t, ctx, bob); got != 37_000 {
		t.Errorf("bob's balance = %d, want 37000", got)
	}

	// The CLI pays across banks and reads the balance from another session.
	out = mustCLI(t, env, "wallet", "pay", "-key", aliceKey, "-bank", urls["bank-1"], "-to", bob.Address(), "-amount", "1000", "-id", "cli-pay-1")
	if !strings.Contains(out, "amount: 1000") || !strings.Contains(out, "to: "+bob.Address()) {
		t.Errorf("wallet pay printed:\n%s", out)
	}
	waitNotify(t, bob, protocol.ReasonPayment, 1_000)
	var bal protocol.BalanceResult
	out = mustCLI(t, env, "wallet", "balance", "-key", aliceKey, "-bank", urls["bank-1"], "-json")
	if err := json.Unmarshal([]byte(out), &bal); err != nil || bal.Wallet != alice.Address() || bal.Balance != 32_000 ||
		bal.Deposit != 200_000-40_000 {
		t.Errorf("wallet balance -json printed %q (%v), want 32000 yen in the wallet and 160000 on deposit", out, err)
	}
	if got := walletBalance(t, ctx, bob); got != 38_000 {
		t.Errorf("bob's balance = %d, want 38000", got)
	}

	// Each settings call changes only what it names.
	for _, step := range []struct {
		flag string
		want protocol.Settings
	}{{"-auto-charge", protocol.Settings{Waterfall: true, AutoCharge: true}}, {"-waterfall=false", protocol.Settings{AutoCharge: true}}} {
		var got protocol.Settings
		out = mustCLI(t, env, "wallet", "settings", "-key", aliceKey, "-bank", urls["bank-1"], step.flag, "-json")
		if err := json.Unmarshal([]byte(out), &got); err != nil || got.Waterfall != step.want.Waterfall || got.AutoCharge != step.want.AutoCharge {
			t.Errorf("wallet settings %s printed %q (%v), want waterfall %v and auto-charge %v", step.flag, out, err, step.want.Waterfall, step.want.AutoCharge)
		}
	}

	// Bob's session stays open: his bank closes it on the way out.
	alice.Close()
	for _, b := range banks {
		b.interrupt(t)
	}
	select {
	case <-bob.Done():
	case <-time.After(stopWait):
		t.Errorf("bob's session outlived bank-2")
	}
	led.interrupt(t)
	for _, p := range append(banks, led) {
		if !strings.Contains(p.stdout.String(), "stopping") {
			t.Errorf("%s did not say it was stopping:\n%s", p.name, p.stdout.String())
		}
	}
	out, errOut, code := cli(t, nil, "audit", dir)
	if code != 0 || !strings.Contains(out, "verdict: OK") || !regexp.MustCompile(`wallets\s+70000 yen`).MatchString(out) {
		t.Errorf("cbdc audit: exit status %d, want 0 with verdict OK and 70000 yen in wallets\n%s%s", code, out, errOut)
	}
}

func TestMultiProcess_CredentialsOfAnotherBank(t *testing.T) {
	dir := t.TempDir()
	led, ledgerURL := startLedger(t, dir, 2)
	out, errOut, code := cli(t, nil, bankArgs(dir, ledgerURL, "bank-2", "bank-1")...)
	if code != 1 {
		t.Errorf("bank-2 with bank-1's credential: exit status %d, want 1", code)
	}
	for _, want := range []string{"cbdc: intermediary: bank-2 at the central ledger", "sign in as bank-2", "sign-in refused"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("bank-2 with bank-1's credential: stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(out, "serving wallets") {
		t.Errorf("bank-2 with bank-1's credential served wallets:\n%s", out)
	}
	if _, err := led.stderr.waitFor(regexp.MustCompile(`ledger sign-in refused.*intermediary=bank-2`), led.done, startWait); err != nil {
		t.Errorf("the ledger did not log the refused sign-in: %v", err)
	}
	led.interrupt(t)
}

// mustCLI runs the binary and requires exit status 0.
func mustCLI(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, env, args...)
	if code != 0 {
		t.Fatalf("cbdc %s: exit status %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// dialWallet opens a session at the bank, registering the key first when
// name is set. The session closes at cleanup.
func dialWallet(t *testing.T, ctx context.Context, url string, key ed25519.PrivateKey, name, person string) *wallet.Client {
	t.Helper()
	dctx, cancel := context.WithTimeout(ctx, startWait)
	defer cancel()
	var c *wallet.Client
	var err error
	if name != "" {
		c, err = wallet.Register(dctx, url, key, name, person, wallet.DialOptions{})
	} else {
		c, err = wallet.Dial(dctx, url, key, wallet.DialOptions{})
	}
	if err != nil {
		t.Fatalf("open a wallet session at %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// withdraw withdraws; the session that asked learns of it from the answer
// (its other sessions would be notified).
func withdraw(t *testing.T, ctx context.Context, c *wallet.Client, amount int64) {
	t.Helper()
	w, err := c.Withdraw(ctx, "", amount)
	if err != nil {
		t.Fatalf("%s withdraws %d: %v", c.Address(), amount, err)
	}
	if w.Amount != amount || w.Seq == 0 {
		t.Fatalf("%s withdrew %+v, want %d", c.Address(), w, amount)
	}
}

// pay pays and waits for the payee's credit notification.
func pay(t *testing.T, ctx context.Context, from, to *wallet.Client, amount int64) {
	t.Helper()
	if _, err := from.Pay(ctx, "", to.Address(), amount); err != nil {
		t.Fatalf("%s pays %s %d: %v", from.Address(), to.Address(), amount, err)
	}
	n := waitNotify(t, to, protocol.ReasonPayment, amount)
	if n.Counterparty != from.Address() {
		t.Errorf("%s's credit of %d names %s as the payer, want %s", to.Address(), amount, n.Counterparty, from.Address())
	}
}

// The ledger stops first, with a bank's long polls under way: it must not
// wait them out but stop promptly and cleanly. Started again on the same
// address, it serves the bank again, which signs in by itself.
func TestMultiProcess_LedgerRestartsUnderBank(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	led, ledgerURL := startLedger(t, dir, 1)
	bank := startProc(t, "bank-1", bankArgs(dir, ledgerURL, "bank-1", "bank-1")...)
	url := bank.waitFor(t, bankServing)[2]
	_, key, _ := ed25519.GenerateKey(nil)
	alice := dialWallet(t, ctx, url, key, "Alice", "P-ALICE")
	withdraw(t, ctx, alice, 10_000)

	led.interrupt(t)
	if t.Failed() {
		t.FailNow()
	}
	led = startProc(t, "ledger again", "ledger", "-data", dir, "-listen", strings.TrimPrefix(ledgerURL, "http://"), "-banks", "1", "-float", "50000000")
	if again := led.waitFor(t, ledgerServing)[1]; again != ledgerURL {
		t.Fatalf("the ledger came back at %s, not %s", again, ledgerURL)
	}
	withdraw(t, ctx, alice, 5_000)
	// A deposit is answered only once the bank's feed of the new ledger
	// process has credited the deposit account.
	if d, err := alice.Deposit(ctx, "", 1_000); err != nil || d.Deposit != 200_000-15_000+1_000 {
		t.Fatalf("deposit after the ledger restarted: %+v, %v", d, err)
	}
	if got := walletBalance(t, ctx, alice); got != 14_000 {
		t.Errorf("alice's balance = %d, want 14000", got)
	}
	alice.Close()
	bank.interrupt(t)
	led.interrupt(t)
	out, errOut, code := cli(t, nil, "audit", dir)
	if code != 0 || !strings.Contains(out, "verdict: OK") {
		t.Errorf("cbdc audit: exit status %d, want 0 with verdict OK\n%s%s", code, out, errOut)
	}
}

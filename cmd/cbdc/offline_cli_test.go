package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMultiProcess_OfflinePaymentWithTheCLI runs the tiers as processes and
// pays offline between wallets at two banks with nothing but the CLI: the
// payee's request and the payer's voucher travel as text, as a QR code
// would carry them.
func TestMultiProcess_OfflinePaymentWithTheCLI(t *testing.T) {
	dir := t.TempDir()
	led, banks, urls := startTwoBanks(t, dir)
	env := []string{walletPassphraseEnv + "=" + testPassphrase}
	type person struct{ key, purse, bank string }
	alice := person{filepath.Join(dir, "alice.key"), filepath.Join(dir, "alice.purse"), urls["bank-1"]}
	bob := person{filepath.Join(dir, "bob.key"), filepath.Join(dir, "bob.purse"), urls["bank-2"]}
	cliJSON := func(p person, out any, args ...string) {
		t.Helper()
		args = append(args, "-key", p.key, "-json")
		if !strings.HasPrefix(args[1], "purse") || args[1] == "purse-provision" || args[1] == "purse-fund" || args[1] == "purse-sync" || args[1] == "purse-defund" {
			args = append(args, "-bank", p.bank)
		}
		if strings.HasPrefix(args[1], "purse") {
			args = append(args, "-purse", p.purse, "-kdf-memory", "1024")
		}
		s := mustCLI(t, env, args...)
		if out != nil {
			if err := json.Unmarshal([]byte(s), out); err != nil {
				t.Fatalf("%v printed %q: %v", args, s, err)
			}
		}
	}
	for i, p := range []person{alice, bob} {
		mustCLI(t, env, "wallet", "new", "-key", p.key, "-kdf-memory", "1024")
		name := []string{"Alice", "Bob"}[i]
		cliJSON(p, nil, "wallet", "register", "-name", name, "-person", "P-"+name)
		cliJSON(p, nil, "wallet", "purse-provision")
	}
	cliJSON(alice, nil, "wallet", "withdraw", "-amount", "30000")
	var funded struct{ Escrow int64 }
	cliJSON(alice, &funded, "wallet", "purse-fund", "-amount", "20000")
	if funded.Escrow != 20_000 {
		t.Fatalf("escrow after funding: %d", funded.Escrow)
	}

	// Offline: no bank is asked.
	var req struct{ Request string }
	cliJSON(bob, &req, "wallet", "purse-request", "-amount", "4500")
	var paid struct {
		Voucher string
		Balance int64
	}
	cliJSON(alice, &paid, "wallet", "purse-pay", "-request", req.Request)
	if paid.Balance != 15_500 || !strings.HasPrefix(paid.Voucher, "cbdc-vch1:") {
		t.Fatalf("purse-pay printed %+v", paid)
	}
	var accepted struct{ Accepted, Pending int64 }
	cliJSON(bob, &accepted, "wallet", "purse-accept", "-voucher", paid.Voucher)
	if accepted.Accepted != 4_500 || accepted.Pending != 4_500 {
		t.Fatalf("purse-accept printed %+v", accepted)
	}
	// A voucher is accepted once.
	if _, errOut, code := cli(t, env, "wallet", "purse-accept", "-key", bob.key, "-purse", bob.purse, "-voucher", paid.Voucher); code == 0 || !strings.Contains(errOut, "unknown_request") && !strings.Contains(errOut, "no open payment request") {
		t.Errorf("a second accept of one voucher: exit %d, %s", code, errOut)
	}

	var synced []struct{ Settled, Duplicate int }
	cliJSON(bob, &synced, "wallet", "purse-sync")
	if len(synced) != 1 || synced[0].Settled != 1 {
		t.Fatalf("bob's sync: %+v", synced)
	}
	cliJSON(alice, &synced, "wallet", "purse-sync")
	if synced[0].Duplicate != 1 {
		t.Fatalf("alice's sync: %+v", synced)
	}
	var defunded struct{ Escrow int64 }
	cliJSON(alice, &defunded, "wallet", "purse-defund", "-amount", "5500")
	if defunded.Escrow != 10_000 {
		t.Fatalf("escrow after defunding: %d", defunded.Escrow)
	}
	var purse struct{ Balance, SinceSync int64 }
	cliJSON(alice, &purse, "wallet", "purse")
	if purse.Balance != 10_000 || purse.SinceSync != 0 {
		t.Errorf("alice's purse: %+v", purse)
	}

	for _, b := range banks {
		b.interrupt(t)
	}
	led.interrupt(t)
	out, errOut, code := cli(t, nil, "audit", dir)
	if code != 0 || !strings.Contains(out, "verdict: OK") || !regexp.MustCompile(`offline escrow\s+10000 yen`).MatchString(out) ||
		!regexp.MustCompile(`vouchers\s+2: 2 settled \(10000 yen\), 0 pending`).MatchString(out) {
		t.Errorf("cbdc audit: exit status %d, want 0 with verdict OK and 10000 yen in escrow\n%s%s", code, out, errOut)
	}
}

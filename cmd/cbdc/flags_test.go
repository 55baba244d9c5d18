package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// writeTestKey writes a wallet key file sealed with testPassphrase, cheap
// to open.
func writeTestKey(t *testing.T, path string) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	data, err := wallet.EncryptKey(key, []byte(testPassphrase), wallet.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := wallet.WriteKeyFile(path, data); err != nil {
		t.Fatal(err)
	}
}

// A wallet command that cannot succeed says why without asking for a
// passphrase it does not need or reaching for a bank.
func TestWallet_ArgumentErrors(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "wallet.key")
	writeTestKey(t, key)
	missing := filepath.Join(dir, "missing.key")
	bank := "ws://127.0.0.1:1/v1/wallet" // nothing listens: a test that reaches it fails to connect
	to := "w-0123456789abcdef0123@bank-2"
	tests := []struct {
		name       string
		passphrase string
		args       []string
		usage      bool     // the error is errUsage, the reason printed
		is         error    // the error wraps this
		want       []string // the error or the output says these
		wantNot    string   // and never this
		check      func(*testing.T)
	}{
		{name: "missing -to", args: []string{"pay", "-key", missing, "-bank", bank, "-amount", "100"},
			want: []string{"wallet pay: -to must name the payee's wallet address"}, wantNot: "read key file"},
		{name: "no amount", args: []string{"pay", "-key", missing, "-bank", bank, "-to", to},
			want: []string{"wallet pay: -amount must be a positive number of yen, got 0"}},
		{name: "negative withdrawal", args: []string{"withdraw", "-key", missing, "-bank", bank, "-amount", "-5"},
			want: []string{"wallet withdraw: -amount must be a positive number of yen, got -5"}},
		{name: "every problem at once", args: []string{"request", "-key", missing, "-bank", "http://bank"},
			want: []string{"-from must name the payer", "-amount must be a positive", `-bank must be the bank's ws:// or wss:// wallet address, got "http://bank"`}},
		{name: "approve without -ref", args: []string{"approve", "-key", missing, "-bank", bank},
			want: []string{"wallet approve: -ref must name the payment request"}},
		{name: "register without -person", args: []string{"register", "-key", missing, "-bank", bank, "-name", "Alice"},
			want: []string{"wallet register: -name and -person are required"}},
		{name: "amount as an argument", args: []string{"pay", "-key", key, "-bank", bank, "-to", to, "100"}, usage: true,
			want: []string{`unexpected arguments ["100"]`}},
		{name: "unknown verb", args: []string{"frobnicate"}, usage: true,
			want: []string{`cbdc wallet: unknown command "frobnicate"`, "Usage: cbdc wallet COMMAND"}},
		{name: "unknown flag", args: []string{"balance", "-colour"}, usage: true,
			want: []string{"flag provided but not defined: -colour"}},
		{name: "no verb", usage: true, want: []string{"Usage: cbdc wallet COMMAND"}},
		{name: "wrong passphrase", passphrase: "not the passphrase", args: []string{"balance", "-key", key, "-bank", bank},
			is: wallet.ErrWrongPassphrase, want: []string{key + ": wallet: wrong passphrase"}},
		{name: "missing key file", args: []string{"balance", "-key", missing, "-bank", bank},
			is: fs.ErrNotExist, want: []string{"wallet: read key file", "missing.key"}},
		{name: "no bank there", args: []string{"balance", "-key", key, "-bank", bank},
			want: []string{"wallet: connect to " + bank}},
		{name: "new over an existing key", args: []string{"new", "-key", key, "-kdf-memory", "1024"},
			want: []string{"already exists"}},
		{name: "new with a short passphrase", passphrase: "short", args: []string{"new", "-key", filepath.Join(dir, "weak.key"), "-kdf-memory", "1024"},
			is: wallet.ErrWeakPassphrase, want: []string{"at least 8 bytes"}, check: noFile(filepath.Join(dir, "weak.key"))},
		{name: "new with too little memory", args: []string{"new", "-key", filepath.Join(dir, "cheap.key"), "-kdf-memory", "4"},
			want: []string{"wallet new: -kdf-memory must be 16 to 1048576 KiB, got 4"}, check: noFile(filepath.Join(dir, "cheap.key"))},
		{name: "new with memory past 32 bits", args: []string{"new", "-key", filepath.Join(dir, "wrap.key"), "-kdf-memory", "4294968320"},
			want: []string{"-kdf-memory must be 16 to 1048576 KiB, got 4294968320"}, check: noFile(filepath.Join(dir, "wrap.key"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.passphrase
			if p == "" {
				p = testPassphrase
			}
			t.Setenv(walletPassphraseEnv, p)
			out, err := run(t, context.Background(), append([]string{"wallet"}, tt.args...)...)
			if err == nil {
				t.Fatalf("cbdc wallet %v succeeded:\n%s", tt.args, out)
			}
			if tt.usage != errors.Is(err, errUsage) {
				t.Errorf("err = %v, usage error: %v", err, !tt.usage)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.is)
			}
			said := err.Error() + "\n" + out
			for _, w := range tt.want {
				if !strings.Contains(said, w) {
					t.Errorf("cbdc wallet %v: %q lacks %q", tt.args, said, w)
				}
			}
			if tt.wantNot != "" && strings.Contains(said, tt.wantNot) {
				t.Errorf("cbdc wallet %v: %q says %q", tt.args, said, tt.wantNot)
			}
			if tt.check != nil {
				tt.check(t)
			}
		})
	}
}

func noFile(path string) func(*testing.T) {
	return func(t *testing.T) {
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want no file", path, err)
		}
	}
}

// `cbdc bank` and `cbdc ledger` refuse a bad configuration before they
// touch the data directory or the network.
func TestBankAndLedger_FlagValidation(t *testing.T) {
	dir := t.TempDir()
	notHex := filepath.Join(dir, "not-hex.key")
	if err := os.WriteFile(notHex, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	holder := filepath.Join(dir, "holder.key")
	bank := func(extra ...string) []string {
		return append([]string{"bank", "-id", "bank-1", "-data", filepath.Join(dir, "bank-1"), "-holder-key", holder,
			"-key", filepath.Join(dir, "credentials", "bank-1.key"), "-listen", "127.0.0.1:0"}, extra...)
	}
	ledgerArgs := func(extra ...string) []string {
		return append([]string{"ledger", "-data", filepath.Join(dir, "ledger-data"), "-listen", "127.0.0.1:0"}, extra...)
	}
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"bank: -ledger not http", bank("-ledger", "ws://127.0.0.1:7400"), false, `bank: -ledger must be the ledger's http:// address, got "ws://127.0.0.1:7400"`},
		{"bank: -ledger empty", bank("-ledger", ""), false, "bank: -ledger must be the ledger's http:// address"},
		{"bank: no -key", bank("-key", ""), false, "bank: -key must name the credential the ledger issued"},
		{"bank: no -id", bank("-id", ""), false, "bank: -id must name the intermediary"},
		{"bank: no -holder-key", bank("-holder-key", ""), false, "bank: -data and -holder-key must name files"},
		{"bank: -listen not host:port", bank("-listen", "7501"), false, `bank: -listen must be host:port, got "7501"`},
		{"bank: missing key file", bank(), false, "bank key: open " + filepath.Join(dir, "credentials", "bank-1.key")},
		{"bank: key file not hex", bank("-key", notHex), false, "bank key " + notHex + ": not 32 bytes of hex"},
		{"bank: unknown flag", bank("-colour"), true, "flag provided but not defined: -colour"},
		{"ledger: -banks over 50", ledgerArgs("-banks", "51"), false, "ledger: -banks must be 0 to 50, got 51"},
		{"ledger: -banks negative", ledgerArgs("-banks", "-1"), false, "ledger: -banks must be 0 to 50, got -1"},
		{"ledger: -float zero", ledgerArgs("-float", "0"), false, "ledger: -float must be a positive number of yen, got 0"},
		{"ledger: no -data", ledgerArgs("-data", ""), false, "ledger: -data must name a directory"},
		{"ledger: -listen not host:port", ledgerArgs("-listen", "localhost"), false, `ledger: -listen must be host:port, got "localhost"`},
		{"ledger: -banks not a number", ledgerArgs("-banks", "two"), true, `invalid value "two" for flag -banks`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, context.Background(), tt.args...)
			if err == nil {
				t.Fatalf("cbdc %v succeeded:\n%s", tt.args, out)
			}
			if tt.usage != errors.Is(err, errUsage) {
				t.Errorf("err = %v, usage error: %v", err, !tt.usage)
			}
			if said := err.Error() + "\n" + out; !strings.Contains(said, tt.want) {
				t.Errorf("cbdc %v: %q lacks %q", tt.args, said, tt.want)
			}
		})
	}
	for _, path := range []string{filepath.Join(dir, "ledger-data"), filepath.Join(dir, "bank-1")} {
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a refused configuration made %s (%v)", path, err)
		}
	}
}

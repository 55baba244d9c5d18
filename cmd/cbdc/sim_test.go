package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/sim"
)

func TestSim_RunsAScenarioAndAudits(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tiny.json")
	scenario := `{"name": "tiny", "seed": 3, "banks": 2, "wallets": 20, "merchants": 2,
	  "start": {"wallet": {"dist": "fixed", "value": 50000}, "merchant": {"dist": "fixed", "value": 0}},
	  "payments": 100, "arrival": {"process": "closed", "concurrency": 4},
	  "mix": {"person_to_person": 0.5, "merchant": 0.5, "amount": {"dist": "fixed", "value": 100}}}`
	if err := os.WriteFile(file, []byte(scenario), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, context.Background(), "sim", "-quiet", "-json", filepath.Join(dir, "r.json"), "-html", filepath.Join(dir, "r.html"), file)
	if err != nil {
		t.Fatalf("sim: %v\n%s", err, out)
	}
	for _, want := range []string{"scenario tiny (seed 3)", "100: 100 paid, 0 failed", "audit       OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if page, err := os.ReadFile(filepath.Join(dir, "r.html")); err != nil || !strings.Contains(string(page), "<svg") {
		t.Errorf("HTML report: %v", err)
	}
	var rep sim.Report
	b, err := os.ReadFile(filepath.Join(dir, "r.json"))
	if err != nil || json.Unmarshal(b, &rep) != nil || rep.Paid != 100 || !rep.Conserved {
		t.Errorf("JSON report: %+v (%v)", rep, err)
	}
}

func TestSim_BadScenarioNamesTheLine(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(file, []byte("{\n  \"name\": \"bad\",\n  \"banks\": 0\n}\n"), 0o644)
	_, err := run(t, context.Background(), "sim", file)
	if err == nil || !strings.Contains(err.Error(), "bad.json:3:3: banks: must be 1 to 50") {
		t.Errorf("err = %v, want the file, line and field", err)
	}
}

// cbdc sim drives a ledger and two banks running as processes by their
// addresses: parties are onboarded through the admin API, pay online and
// offline, one cheats, and the run watches the ledger's totals.
func TestSim_AgainstRunningBanks(t *testing.T) {
	dir := t.TempDir()
	led, _, urls := startTwoBanks(t, dir)
	ledgerURL := led.waitFor(t, ledgerServing)[1]
	file := filepath.Join(dir, "remote.json")
	scenario := `{"name": "remote", "seed": 4, "banks": 2, "wallets": 30, "merchants": 4,
	  "start": {"wallet": {"dist": "fixed", "value": 40000}, "merchant": {"dist": "fixed", "value": 0}},
	  "duration": "4s", "arrival": {"process": "fixed", "rate": 20},
	  "mix": {"person_to_person": 0.5, "merchant": 0.5, "amount": {"dist": "uniform", "min": 100, "max": 3000}},
	  "offline": {"share": 0.8, "fund": 20000, "sync_every": "1s", "offline_share": 0.3},
	  "outages": [{"at": "1s", "for": "1s", "wallets": 0.3}],
	  "attacks": [{"kind": "clone", "per_minute": 30}]}`
	if err := os.WriteFile(file, []byte(scenario), 0o644); err != nil {
		t.Fatal(err)
	}
	var banks, tokens []string
	for _, id := range []string{"bank-1", "bank-2"} {
		banks = append(banks, "http://"+strings.TrimPrefix(strings.TrimSuffix(urls[id], protocol.Path), "ws://"))
		tokens = append(tokens, filepath.Join(dir, id, "admin.token"))
	}
	out, err := run(t, context.Background(), "sim", "-quiet", "-json", filepath.Join(dir, "r.json"),
		"-banks", strings.Join(banks, ","), "-admin-tokens", strings.Join(tokens, ","),
		"-ledger", ledgerURL, "-ledger-key", filepath.Join(dir, "credentials", "bank-1.key"), file)
	if err != nil {
		t.Fatalf("sim: %v\n%s", err, out)
	}
	t.Log("\n" + out)
	var rep sim.Report
	b, err := os.ReadFile(filepath.Join(dir, "r.json"))
	if err != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("JSON report: %v", err)
	}
	if rep.Payments != 80 || rep.Paid == 0 || !rep.LedgerSeen || !rep.Conserved || len(rep.Money) == 0 {
		t.Errorf("payments %d, paid %d, ledger seen %v, conserved %v, %d money samples", rep.Payments, rep.Paid, rep.LedgerSeen, rep.Conserved, len(rep.Money))
	}
	o := rep.Offline
	if o == nil || o.Paid == 0 || o.Settled == 0 || o.HonestRevoked != 0 || len(o.Attacks) != 1 || o.Attacks[0].Caught != 2 {
		t.Errorf("offline: %+v", o)
	}
	// The same banks take a second run: its parties are new to them.
	if out, err := run(t, context.Background(), "sim", "-quiet", "-banks", strings.Join(banks, ","), "-admin-tokens", strings.Join(tokens, ","), file); err != nil ||
		!strings.Contains(out, "not watched") {
		t.Errorf("second run without a ledger view: %v\n%s", err, out)
	}
	t.Run("bad set-ups", func(t *testing.T) { simBadRemoteSetups(t, dir, file, banks, tokens, ledgerURL) })
}

// simBadRemoteSetups runs the binary against the running banks with each
// set-up an operator gets wrong: each run names its problem and exits 1,
// with no panic.
func simBadRemoteSetups(t *testing.T, dir, scenario string, banks, tokens []string, ledgerURL string) {
	wrongToken := filepath.Join(dir, "wrong.token")
	if err := os.WriteFile(wrongToken, []byte("0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	both := strings.Join(banks, ",")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"wrong admin token", []string{"-banks", both, "-admin-tokens", wrongToken}, "admin token"},
		{"token file missing", []string{"-banks", both, "-admin-tokens", filepath.Join(dir, "none.token")}, "none.token"},
		{"bank unreachable", []string{"-banks", banks[0] + ",http://127.0.0.1:1", "-admin-tokens", tokens[0]}, "127.0.0.1:1"},
		{"bank listed twice", []string{"-banks", banks[0] + "," + banks[0], "-admin-tokens", tokens[0]}, "two of the -banks addresses are bank-1"},
		{"too few banks", []string{"-banks", banks[0], "-admin-tokens", tokens[0]}, "the scenario has 2 banks and 1 bank addresses"},
		{"not a bank address", []string{"-banks", "ws://127.0.0.1:1," + banks[1], "-admin-tokens", tokens[0]}, "not an http:// or https:// address"},
		{"another bank's ledger key", []string{"-banks", both, "-admin-tokens", strings.Join(tokens, ","),
			"-ledger", ledgerURL, "-ledger-key", filepath.Join(dir, "credentials", "bank-2.key"), "-ledger-id", "bank-1"}, "ledger"},
		{"ledger unreachable", []string{"-banks", both, "-admin-tokens", strings.Join(tokens, ","),
			"-ledger", "http://127.0.0.1:1", "-ledger-key", filepath.Join(dir, "credentials", "bank-1.key")}, "127.0.0.1:1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := cli(t, nil, append(append([]string{"sim", "-quiet"}, c.args...), scenario)...)
			if code != 1 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
				t.Errorf("exit %d, want 1 and a message naming %q\nstdout: %s\nstderr: %s", code, c.want, stdout, stderr)
			}
			t.Logf("%s", strings.TrimSpace(stderr))
		})
	}
}

// A run in this process whose sandbox cannot be built says why, and closes
// what it opened.
func TestSim_DataDirectoryUnusable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tiny.json")
	scenario := `{"name": "tiny", "seed": 3, "banks": 1, "wallets": 2, "merchants": 1, "payments": 1,
	  "start": {"wallet": {"dist": "fixed", "value": 500}, "merchant": {"dist": "fixed", "value": 0}},
	  "arrival": {"process": "closed", "concurrency": 1},
	  "mix": {"person_to_person": 1, "merchant": 0, "amount": {"dist": "fixed", "value": 100}}}`
	notADir := filepath.Join(dir, "plain-file")
	for _, f := range []string{file, notADir} {
		if err := os.WriteFile(f, []byte(scenario), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := run(t, context.Background(), "sim", "-quiet", "-data", notADir, file)
	if err == nil || !strings.Contains(err.Error(), "plain-file") {
		t.Errorf("err = %v, want one naming the unusable -data", err)
	}
}

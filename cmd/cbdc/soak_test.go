package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/soak"
)

// The short soak of make test (make soak runs the long one): the ledger
// and two banks as processes, each killed twice with SIGKILL under load and
// started again; nothing answered may be lost or doubled and the audit
// must pass.
func TestSoak_KilledUnderLoad(t *testing.T) {
	t.Parallel()
	rep := soakRun(t, "-duration", "24s", "-kills", "2")
	if rep.Kills["ledger"] != 2 || rep.Kills["bank-1"] != 1 || rep.Kills["bank-2"] != 1 || rep.Restarts != 4 {
		t.Errorf("kills %v and %d restarts, want the ledger, bank-1 and bank-2 killed 2, 1 and 1 times and each started again", rep.Kills, rep.Restarts)
	}
}

// The same over TLS: the services start again with their certificates
// and the wallets reconnect over wss://.
func TestSoak_KilledUnderLoadOverTLS(t *testing.T) {
	t.Parallel()
	rep := soakRun(t, "-duration", "12s", "-kills", "1", "-tls")
	if !rep.TLS || rep.Kills["ledger"] != 1 || rep.Kills["bank-1"] != 1 || rep.Restarts != 2 {
		t.Errorf("TLS %v, kills %v, %d restarts; want TLS and the ledger and bank-1 killed once each and started again", rep.TLS, rep.Kills, rep.Restarts)
	}
}

// soakRun runs cbdc soak with args and requires a clean verdict.
func soakRun(t *testing.T, args ...string) soak.Report {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "soak.json")
	p := startProc(t, "soak", append([]string{"soak", "-down", "1s", "-quiet", "-data", filepath.Join(dir, "run"), "-json", out}, args...)...)
	select {
	case <-p.done:
	case <-time.After(10 * time.Minute):
		t.Fatal("the soak did not end within 10 minutes")
	}
	if p.err != nil {
		t.Fatalf("cbdc soak: %v\n%s%s", p.err, p.stdout.String(), p.stderr.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep soak.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("cbdc soak:\n%s", p.stdout.String())
	if rep.Paid == 0 || rep.Checked != rep.Paid || rep.HoldingsChecked != rep.Parties || rep.Parties == 0 {
		t.Errorf("%d payments made, %d checked, holdings of %d of %d parties checked: want every one", rep.Paid, rep.Checked, rep.HoldingsChecked, rep.Parties)
	}
	if rep.Lost+rep.Doubled+rep.Unexpected+rep.HoldingsWrong+rep.Unsettled != 0 || rep.Audit != "OK" || !rep.OK() {
		t.Errorf("lost %d, doubled %d, unexpected %d, wrong holdings %d, unsettled %d, audit %s: %q",
			rep.Lost, rep.Doubled, rep.Unexpected, rep.HoldingsWrong, rep.Unsettled, rep.Audit, rep.Problems)
	}
	return rep
}

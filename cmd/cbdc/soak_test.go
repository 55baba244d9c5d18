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
	dir := t.TempDir()
	out := filepath.Join(dir, "soak.json")
	p := startProc(t, "soak", "soak", "-duration", "24s", "-kills", "2", "-down", "1s", "-quiet",
		"-data", filepath.Join(dir, "run"), "-json", out)
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
	if rep.Kills["ledger"] != 2 || rep.Kills["bank-1"] != 1 || rep.Kills["bank-2"] != 1 || rep.Restarts != 4 {
		t.Errorf("kills %v and %d restarts, want the ledger, bank-1 and bank-2 killed 2, 1 and 1 times and each started again", rep.Kills, rep.Restarts)
	}
	if rep.Paid == 0 || rep.Checked != rep.Paid || rep.HoldingsChecked != rep.Parties || rep.Parties == 0 {
		t.Errorf("%d payments made, %d checked, holdings of %d of %d parties checked: want every one", rep.Paid, rep.Checked, rep.HoldingsChecked, rep.Parties)
	}
	if rep.Lost+rep.Doubled+rep.Unexpected+rep.HoldingsWrong+rep.Unsettled != 0 || rep.Audit != "OK" || !rep.OK() {
		t.Errorf("lost %d, doubled %d, unexpected %d, wrong holdings %d, unsettled %d, audit %s: %q",
			rep.Lost, rep.Doubled, rep.Unexpected, rep.HoldingsWrong, rep.Unsettled, rep.Audit, rep.Problems)
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	bolt "go.etcd.io/bbolt"
)

func run(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(ctx, args, &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestRun_Usage(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"audit"}, {"sandbox", "-banks", "x"}} {
		out, err := run(t, context.Background(), args...)
		if !errors.Is(err, errUsage) {
			t.Errorf("cbdc %v: err = %v, want usage", args, err)
		}
		if !strings.Contains(out, "Usage") && !strings.Contains(out, "invalid value") {
			t.Errorf("cbdc %v printed no usage: %q", args, out)
		}
	}
	if _, err := run(t, context.Background(), "help"); err != nil {
		t.Errorf("cbdc help: %v", err)
	}
}

func TestSandbox_RejectsBadConfig(t *testing.T) {
	_, err := run(t, context.Background(), "sandbox", "-data", t.TempDir(), "-banks", "0")
	if err == nil || !strings.Contains(err.Error(), "-banks must be 1 to 50") {
		t.Errorf("err = %v, want a message naming -banks", err)
	}
}

// runSandboxBriefly starts the sandbox and stops it as Ctrl-C would.
func runSandboxBriefly(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	out, err := run(t, ctx, "sandbox", "-data", dir, "-banks", "3", "-float", "20000000", "-every", "50ms", "-listen", "127.0.0.1:0", "-demo", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sandbox: %v\n%s", err, out)
	}
	return out
}

func TestSandbox_SeedsOnceAndAudits(t *testing.T) {
	dir := t.TempDir()
	out := runSandboxBriefly(t, dir)
	if !strings.Contains(out, "with 3 intermediaries") || !strings.Contains(out, "bank-3  wallets ws://127.0.0.1:") ||
		!strings.Contains(out, "circulation 160000000 yen") || !strings.Contains(out, "guarantee fund 100000000") {
		t.Errorf("sandbox output:\n%s", out)
	}
	runSandboxBriefly(t, dir) // a restart must not issue again
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	out, err := run(t, ctx, "sandbox", "-data", dir, "-banks", "4", "-float", "30000000", "-every", "50ms", "-listen", "127.0.0.1:0", "-demo", "127.0.0.1:0")
	if err != nil || !strings.Contains(out, "bank-1 received its first float with another -float earlier") {
		t.Fatalf("restart with another float: %v\n%s", err, out)
	}
	out, err = run(t, context.Background(), "audit", dir)
	if err != nil {
		t.Fatalf("audit: %v\n%s", err, out)
	}
	// The circulation is the banks' floats and the offline guarantee fund.
	for _, want := range []string{"verdict: OK", "circulation        190000000 yen", "intermediaries   90000000 yen", "guarantee fund   100000000 yen",
		"together         190000000 yen, equal to circulation"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit output lacks %q:\n%s", want, out)
		}
	}
	// -data, as the other commands take the directory, says the same.
	if again, err := run(t, context.Background(), "audit", "-data", dir); err != nil || again != out {
		t.Errorf("audit -data: %v\n%s", err, again)
	}
}

// A journal whose newest records were cut from under its stored head is
// damaged, not merely unsound: the audit says which records are missing
// and exits with the damage status.
func TestAudit_CutJournalIsDamage(t *testing.T) {
	dir := t.TempDir()
	runSandboxBriefly(t, dir)
	db, err := bolt.Open(filepath.Join(dir, "ledger", ledger.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte("journal")).Cursor()
		c.Last()
		return c.Delete()
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, err := run(t, context.Background(), "audit", dir)
	var exit exitError
	if !errors.As(err, &exit) || exit != exitDamaged {
		t.Fatalf("audit of a cut journal: err = %v, want exit status %d\n%s", err, exitDamaged, out)
	}
	if !strings.Contains(out, "verdict: DAMAGED") || !strings.Contains(out, "missing from the journal") || !strings.Contains(out, "stored head") {
		t.Errorf("audit output:\n%s", out)
	}
}

func TestAudit_MissingDirectory(t *testing.T) {
	_, err := run(t, context.Background(), "audit", filepath.Join(t.TempDir(), "nothing"))
	if err == nil || !strings.Contains(err.Error(), "no ledger in") {
		t.Errorf("err = %v, want a message saying there is no ledger", err)
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/boltfile"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	bolt "go.etcd.io/bbolt"
)

func TestExitStatus(t *testing.T) {
	damage := &ledger.DamageError{Path: "x/ledger.db", Record: 7, Kind: boltfile.Altered, Detail: "d"}
	for _, tc := range []struct {
		err  error
		code int
		say  bool
	}{
		{nil, 0, false},
		{errUsage, 2, false},
		{fmt.Errorf("sandbox: %w", errUsage), 2, false},
		{exitError(1), 1, false},
		{exitError(3), 3, false},
		{errors.New("listen: address in use"), 1, true},
		{fmt.Errorf("wrapped: %w", damage), 3, true},
		{&boltfile.Damage{Path: "b/bank.db", Kind: boltfile.Truncated}, 3, true},
		{fmt.Errorf("x: %w", boltfile.ErrInUse), 1, true},
	} {
		code, say := exitStatus(tc.err)
		if code != tc.code || say != tc.say {
			t.Errorf("exitStatus(%v) = %d, %v; want %d, %v", tc.err, code, say, tc.code, tc.say)
		}
	}
}

// The audit's verdict: damage outranks a discrepancy, and only damage to
// what must be restored comes with advice to restore it.
func TestAuditVerdict(t *testing.T) {
	cp := &ledger.DamageError{Path: "d/ledger/" + ledger.CheckpointFileName, Kind: boltfile.Altered}
	journal := &ledger.DamageError{Path: "d/ledger/" + ledger.FileName, Record: 9, Kind: boltfile.Missing}
	for _, tc := range []struct {
		name   string
		rep    ledger.AuditReport
		want   error
		advice bool
	}{
		{"sound", ledger.AuditReport{}, nil, false},
		{"discrepancy", ledger.AuditReport{Problems: []string{"p"}}, exitError(1), false},
		{"checkpoint damage", ledger.AuditReport{Damage: []*ledger.DamageError{cp}}, exitError(3), false},
		{"journal damage", ledger.AuditReport{Damage: []*ledger.DamageError{journal}, Problems: []string{"p"}}, exitError(3), true},
	} {
		var stderr bytes.Buffer
		if err := auditVerdict(&tc.rep, &stderr); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if got := strings.Contains(stderr.String(), "Restore the ledger's directory d/ledger"); got != tc.advice {
			t.Errorf("%s: advice %v, want %v: %q", tc.name, got, tc.advice, stderr.String())
		}
	}
}

// stoppedSandbox is a sandbox's data directory after a clean stop.
func stoppedSandbox(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	runSandboxBriefly(t, dir)
	return dir
}

// flipRecord changes a byte in a middle journal record through bbolt,
// which leaves the file's pages whole, and returns the record's number.
func flipRecord(t *testing.T, dir string) uint64 {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "ledger", ledger.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var seq uint64
	err = db.Update(func(tx *bolt.Tx) error {
		j := tx.Bucket([]byte("journal"))
		n := j.Stats().KeyN
		c := j.Cursor()
		k, v := c.First()
		for range n / 2 {
			k, v = c.Next()
		}
		v = bytes.Clone(v)
		v[len(v)-1] ^= 0x01 // the last byte of the chunk's last record
		seq = lastSeq(v)
		return j.Put(bytes.Clone(k), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// lastSeq reads the sequence number of a chunk's last record: records are
// uvarint-length-prefixed, with their sequence at byte 2.
func lastSeq(chunk []byte) uint64 {
	var seq uint64
	for len(chunk) > 0 {
		n, w := uvarint(chunk)
		rec := chunk[w : w+n]
		seq = uint64(rec[2])<<56 | uint64(rec[3])<<48 | uint64(rec[4])<<40 | uint64(rec[5])<<32 |
			uint64(rec[6])<<24 | uint64(rec[7])<<16 | uint64(rec[8])<<8 | uint64(rec[9])
		chunk = chunk[w+n:]
	}
	return seq
}

func uvarint(b []byte) (int, int) {
	var x uint64
	for i, c := range b {
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int(x), i + 1
		}
	}
	return 0, 0
}

// noCrash requires a process's stderr to show no Go crash.
func noCrash(t *testing.T, what, stderr string) {
	t.Helper()
	for _, crash := range []string{"goroutine ", "SIGBUS", "panic:", "fatal error"} {
		if strings.Contains(stderr, crash) {
			t.Errorf("%s crashed (%q):\n%s", what, crash, stderr)
		}
	}
}

// wantRefused runs a command that must refuse damaged data: exit status
// 3, each of says on stderr, no crash.
func wantRefused(t *testing.T, what string, says []string, args ...string) {
	t.Helper()
	out, errOut, code := cli(t, nil, args...)
	if code != exitDamaged {
		t.Errorf("%s: exit status %d, want %d\n%s%s", what, code, exitDamaged, out, errOut)
	}
	noCrash(t, what, errOut)
	for _, s := range says {
		if !strings.Contains(errOut+out, s) {
			t.Errorf("%s: output lacks %q:\n%s%s", what, s, out, errOut)
		}
	}
}

// A byte flipped in a record the checkpoint covers: `cbdc ledger` refuses
// to start, naming the record and the damage and saying what to do, with
// the damage status; `cbdc audit` finds the same.
func TestProcess_LedgerRefusesDamagedJournal(t *testing.T) {
	dir := stoppedSandbox(t)
	seq := flipRecord(t, dir)
	says := []string{fmt.Sprintf("record %d: its hash does not match the chain", seq), "bytes altered",
		"did not start and changed nothing", "Restore the ledger's directory", "cbdc audit"}
	wantRefused(t, "cbdc ledger", says, "ledger", "-data", dir, "-listen", "127.0.0.1:0")
	wantRefused(t, "cbdc audit", []string{"verdict: DAMAGED", fmt.Sprintf("record %d:", seq), "Restore the ledger's directory"}, "audit", dir)
}

// A ledger file cut short, inside its meta pages, in the middle or in its
// last page: refused with the damage status, never SIGBUS.
func TestProcess_LedgerRefusesTruncatedFile(t *testing.T) {
	src := stoppedSandbox(t)
	path := filepath.Join(src, "ledger", ledger.FileName)
	used, err := boltfile.Used(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{100, used / 2, used - 100} {
		t.Run(fmt.Sprint("size=", size), func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(filepath.Join(dir, "ledger", ledger.FileName), size); err != nil {
				t.Fatal(err)
			}
			says := []string{"ledger.db is damaged (truncated)", "did not start and changed nothing"}
			wantRefused(t, "cbdc ledger", says, "ledger", "-data", dir, "-listen", "127.0.0.1:0")
			wantRefused(t, "cbdc audit", says[:1], "audit", dir)
		})
	}
}

// A checkpoint with a byte flipped is set aside: the ledger starts and
// serves, and once it has stopped the audit is clean again.
func TestProcess_LedgerSetsDamagedCheckpointAside(t *testing.T) {
	dir := stoppedSandbox(t)
	db, err := bolt.Open(filepath.Join(dir, "ledger", ledger.CheckpointFileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("ops"))
		k, v := b.Cursor().First()
		v = bytes.Clone(v)
		v[0] ^= 0x01
		return b.Put(bytes.Clone(k), v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := cli(t, nil, "audit", dir)
	if code != exitDamaged || !strings.Contains(out, "checkpoint.db is damaged") || !strings.Contains(out, "needs no restoring") ||
		strings.Contains(errOut, "Restore") {
		t.Errorf("audit of a damaged checkpoint: exit status %d\n%s%s", code, out, errOut)
	}
	led, _ := startLedger(t, dir, 3)
	led.interrupt(t)
	if !strings.Contains(led.stderr.String(), "checkpoint set aside") {
		t.Errorf("the ledger did not say it set the checkpoint aside:\n%s", led.stderr.String())
	}
	if out, errOut, code := cli(t, nil, "audit", dir); code != 0 {
		t.Errorf("audit after the ledger rebuilt its checkpoint: exit status %d\n%s%s", code, out, errOut)
	}
}

// A second ledger on a running ledger's directory, and an audit of it,
// are told who likely holds the files.
func TestProcess_LedgerInUse(t *testing.T) {
	dir := t.TempDir()
	led, _ := startLedger(t, dir, 1)
	_, errOut, code := cli(t, nil, "ledger", "-data", dir, "-listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "ledger.db is in use by another process (another `cbdc ledger` or `cbdc sandbox` on the same -data directory?)") {
		t.Errorf("second ledger: exit status %d\n%s", code, errOut)
	}
	_, errOut, code = cli(t, nil, "audit", dir)
	if code != 1 || !strings.Contains(errOut, "is in use by another process (is the ledger running?") {
		t.Errorf("audit of a running ledger: exit status %d\n%s", code, errOut)
	}
	led.interrupt(t)
}

// `cbdc bank`: a second bank on the same -data directory is named as
// such, and a bank.db cut short is refused with the damage status.
func TestProcess_BankRefusesHeldOrTruncatedFile(t *testing.T) {
	dir := t.TempDir()
	led, ledgerURL := startLedger(t, dir, 1)
	bank := startProc(t, "bank-1", bankArgs(dir, ledgerURL, "bank-1", "bank-1")...)
	bank.waitFor(t, bankServing)
	_, errOut, code := cli(t, nil, bankArgs(dir, ledgerURL, "bank-1", "bank-1")...)
	if code != 1 || !strings.Contains(errOut, "bank.db is in use by another process (another `cbdc bank` on the same -data directory?)") {
		t.Errorf("second bank on the directory: exit status %d\n%s", code, errOut)
	}
	noCrash(t, "second bank", errOut)
	bank.interrupt(t)
	path := filepath.Join(dir, "bank-1", "bank.db")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "cbdc bank", []string{"bank.db is damaged (truncated)", "did not start and changed nothing", "Restore " + path},
		bankArgs(dir, ledgerURL, "bank-1", "bank-1")...)
	led.interrupt(t)
}

// `cbdc sandbox` refuses a damaged directory the same way, in process.
func TestSandbox_RefusesDamagedJournal(t *testing.T) {
	dir := stoppedSandbox(t)
	seq := flipRecord(t, dir)
	var out bytes.Buffer
	err := Run(context.Background(), []string{"sandbox", "-data", dir, "-listen", "127.0.0.1:0", "-demo", ""}, &out, io.Discard)
	if code, _ := exitStatus(err); code != exitDamaged {
		t.Fatalf("sandbox on a damaged journal: %v (exit status %d)", err, code)
	}
	if !regexp.MustCompile(fmt.Sprintf(`record %d: .*\(bytes altered\)\ncbdc sandbox did not start`, seq)).MatchString(err.Error()) {
		t.Errorf("message: %v", err)
	}
}

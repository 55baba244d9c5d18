package settlement

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/boltfile"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// An index cut short is refused when settlement opens, never mapped, and
// the audit reports it as damage beside the ledger's own report.
func TestOpen_RefusesTruncatedIndex(t *testing.T) {
	w := newWorld(t, staged())
	alice, bob := w.person("bank-a", 50_000), w.person("bank-b", 0)
	w.fund(alice, 10_000)
	w.sync(bob)
	w.reconcile(bob, nil, []offline.Voucher{w.pay(alice, bob, 1_000)})
	if err := w.s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(w.dir, FileName)
	cutToHalf(t, path)
	_, err := Open(w.ctx, w.l, w.cfg)
	var d *boltfile.Damage
	if !errors.As(err, &d) || d.Kind != boltfile.Truncated || !strings.Contains(err.Error(), FileName) {
		t.Fatalf("open of a truncated index: %v, want truncation damage naming %s", err, FileName)
	}
	w.l.Close()
	rep, in, err := Audit(w.dir)
	if err != nil || in != nil || !rep.Damaged() || filepath.Base(rep.Damage[0].Path) != FileName {
		t.Fatalf("audit: %v, damage %v; want the index reported damaged", err, rep.Damage)
	}
}

func cutToHalf(t *testing.T, path string) {
	t.Helper()
	used, err := boltfile.Used(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, used/2); err != nil {
		t.Fatal(err)
	}
}

// After a write of the index fails, Err says so until the settler is
// reopened, so the service's health check can ask for a restart.
func TestSettler_ErrAfterIndexFailure(t *testing.T) {
	w := newWorld(t, staged())
	if err := w.s.Err(); err != nil {
		t.Fatalf("Err of a sound settler: %v", err)
	}
	w.s.db.Close() // the disk goes away under the settler
	pub, _, _ := ed25519.GenerateKey(nil)
	if _, err := w.s.CertifyBank("bank-a", pub); err == nil {
		t.Fatal("a certificate was issued with no index to write it to")
	}
	if err := w.s.Err(); !errors.Is(err, ErrStopped) {
		t.Errorf("Err after a failed write: %v, want ErrStopped", err)
	}
}

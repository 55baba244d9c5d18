package intermediary_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/boltfile"
	"github.com/digital-yen/cbdc-sandbox/intermediary"
)

// A second bank on the same file is told the file is in use; a file cut
// short is refused as damage, never mapped.
func TestBank_RefusesHeldOrDamagedFile(t *testing.T) {
	n := newTestNet(t, 1, nil)
	n.onboard("bank-1", "Alice", "P-1")
	path := filepath.Join(n.dir, "bank-1.db")
	cfg := intermediary.Config{ID: "bank-1", Ledger: n.ledger.Intermediary("bank-1"), Path: path,
		HolderKey: testHolderKey, AdminToken: testAdminToken}
	_, err := intermediary.Open(n.ctx, cfg)
	if !errors.Is(err, boltfile.ErrInUse) || !strings.Contains(err.Error(), path+" is in use by another process") {
		t.Errorf("second bank on the file: %v, want it named as in use", err)
	}

	b := n.banks["bank-1"]
	delete(n.banks, "bank-1")
	b.srv.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	used, err := boltfile.Used(path)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{0, 100, used / 2, used - 1} {
		if err := os.WriteFile(path, whole[:size], 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = intermediary.Open(n.ctx, cfg)
		var d *boltfile.Damage
		if !errors.As(err, &d) || d.Kind != boltfile.Truncated || d.Path != path {
			t.Errorf("bank file cut to %d of %d bytes: %v, want truncation damage", size, used, err)
		}
	}
}

package sandbox

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// A sandbox opens with its banks seeded and serving wallets on free
// ports; a wallet onboarded at one bank pays one at another; closed and
// opened again on its directory, it finds the same books, keeps the
// floats it issued, and says so when asked for another float.
func TestOpen_ServesAndComesBack(t *testing.T) {
	ctx := context.Background()
	cfg := Defaults()
	cfg.Dir, cfg.Banks, cfg.Listen = t.TempDir(), 2, "127.0.0.1:0"
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Banks) != 2 || s.Banks[0].ID() != "bank-1" || s.Banks[1].ID() != "bank-2" {
		t.Fatalf("banks: %v", s.Banks)
	}
	round := "a"
	pay := func() {
		round += "a"
		var ws []*wallet.Client
		for i, b := range s.Banks {
			pub, key, _ := ed25519.GenerateKey(nil)
			if _, err := b.Onboard(ctx, bankadmin.CustomerSpec{Name: "party", PersonID: "p-" + round + string(b.ID()), Tier: "standard",
				Deposit: 50_000, PublicKeys: []ed25519.PublicKey{pub}}); err != nil {
				t.Fatal(err)
			}
			c, err := wallet.Dial(ctx, b.WalletURL(), key, wallet.DialOptions{Bank: string(b.ID())})
			if err != nil {
				t.Fatalf("bank %d: %v", i+1, err)
			}
			defer c.Close()
			ws = append(ws, c)
		}
		if _, err := ws[0].Withdraw(ctx, "", 10_000); err != nil {
			t.Fatal(err)
		}
		if _, err := ws[0].Pay(ctx, "", ws[1].Address(), 2_500); err != nil {
			t.Fatal(err)
		}
	}
	pay()
	if resp, err := http.Get("http://" + s.Banks[0].Addr + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("bank-1 /healthz: %v %v", resp, err)
	}
	before := s.Ledger.Totals()
	if !before.Conserved() || before.Circulation != 2*DefaultFloat+before.Loss || before.Wallets != 10_000 {
		t.Errorf("books after one payment: %+v", before)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.Float = 5 // asked for another float: the first one stands
	s, err = Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Ledger.Totals(); got.Circulation != before.Circulation || got.Wallets != before.Wallets || !got.Conserved() {
		t.Errorf("books after a restart: %+v, before %+v", got, before)
	}
	if len(s.EarlierFloat) != 2 {
		t.Errorf("EarlierFloat = %v, want both banks", s.EarlierFloat)
	}
	pay() // the banks serve again, with new wallets
}

// A bank whose serving ended stops, and says why, however often it is
// stopped: a caller that watched Served and then closes the sandbox does
// not hang.
func TestBank_StopAfterServingEnded(t *testing.T) {
	cfg := Defaults()
	cfg.Dir, cfg.Banks, cfg.Listen = t.TempDir(), 1, "127.0.0.1:0"
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Banks[0].srv.Close() // serving ends, as a failed listener would end it
	<-s.Banks[0].Served()
	done := make(chan error, 1)
	go func() { done <- errors.Join(s.Close(), s.Banks[0].Stop()) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("closing a sandbox whose bank had stopped serving hangs")
	}
}

// A secret's path that exists but cannot be read (a link to nowhere) is
// an error that says what to do, not a loop.
func TestLoadOrCreateSecret_DanglingLink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.token")
	if err := os.Symlink(filepath.Join(t.TempDir(), "gone"), path); err != nil {
		t.Skip(err)
	}
	done := make(chan error, 1)
	go func() { _, err := LoadOrCreateSecret(path, RandomHex(8)); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "remove it") {
			t.Errorf("a dangling link: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("LoadOrCreateSecret loops on a dangling link")
	}
}

package ledgerhttp_test

import (
	"context"
	"crypto/ed25519"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
)

// groupOfOne replicates a ledger's entries to itself alone.
type groupOfOne struct{ l **ledger.Ledger }

func (g groupOfOne) Replicate(entry []byte) error { return (*g.l).Apply(entry) }

// A replica signs a bank in with the key the group's registry holds,
// though this process was given no key for it (a replica on a machine
// without the banks' credentials), and with no other.
func TestServer_SignsInWithTheReplicatedRegistry(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var l *ledger.Ledger
	l, err := ledger.Open(t.TempDir(), ledger.Options{Replicator: groupOfOne{&l}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Lead()
	if _, err := l.OpenAccount(ctx, "open-bank-1", ledger.AccountSpec{ID: "bank-1", Kind: ledger.KindIntermediary}); err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(ledgerhttp.NewServer(l, nil, ledgerhttp.ServerOptions{Replica: selfLeader{}}))
	defer s.Close()
	pub, key, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	if _, err := ledgerhttp.NewClient(s.URL, "bank-1", key, nil).Account(ctx, "bank-1"); err == nil {
		t.Fatal("a bank whose key no one registered was signed in")
	}
	if err := l.RegisterKey(ctx, "bank-1", pub); err != nil {
		t.Fatal(err)
	}
	if _, err := ledgerhttp.NewClient(s.URL, "bank-1", key, nil).Account(ctx, "bank-1"); err != nil {
		t.Fatalf("the registered key: %v", err)
	}
	if _, err := ledgerhttp.NewClient(s.URL, "bank-1", other, nil).Account(ctx, "bank-1"); err == nil {
		t.Fatal("another key was signed in as bank-1")
	}
}

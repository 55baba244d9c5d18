package ledgerhttp_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
)

// selfLeader is a replica that believes it leads, as a leader deposed
// while it was frozen does until it hears of the new term.
type selfLeader struct{}

func (selfLeader) Role() string              { return "leader" }
func (selfLeader) Leader() (id, addr string) { return "ledger-x", "" }
func (selfLeader) ID() string                { return "ledger-x" }
func (selfLeader) Progress() (uint64, uint64, uint64) {
	return 1, 0, 0
}

// replicaOver serves a ledger with bank-1 open as a replica that believes
// it leads.
func replicaOver(t *testing.T, pub ed25519.PublicKey) (*ledger.Ledger, *httptest.Server) {
	t.Helper()
	return serveBankOne(t, pub, ledgerhttp.ServerOptions{Replica: selfLeader{}})
}

// A client that has seen a record does not take an answer from a replica
// that has not applied it: a deposed leader that still believes it leads
// sends the client on instead of answering from before what it knows.
func TestClient_NoAnswerFromBeforeWhatItHasSeen(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, fresh := replicaOver(t, pub)
	behind, stale := replicaOver(t, pub)
	c := ledgerhttp.NewClientWith(fresh.URL+","+stale.URL, "bank-1", key, ledgerhttp.ClientOptions{})
	var seen uint64
	for i := range 5 {
		rc, err := c.Redeem(ctx, fmt.Sprintf("redeem-%d", i), 10)
		if err != nil {
			t.Fatal(err)
		}
		seen = rc.Seq
	}
	fresh.Close() // the client turns to the replica behind
	_, err := c.Account(ctx, "bank-1")
	if ledger.OutcomeOf(err) != ledger.InDoubt {
		t.Fatalf("a replica behind what the client saw answered (%v); want it sent on", err)
	}
	others := 0
	for ; ; others++ { // the replica catches up
		if seq, _ := behind.Head(); seq >= seen {
			break
		}
		if _, err := behind.Redeem(ctx, fmt.Sprintf("other-%d", others), "bank-1", 1); err != nil {
			t.Fatal(err)
		}
	}
	var a ledger.Account
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if a, err = c.Account(ctx, "bank-1"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("a replica caught up still refused: %v", err)
	}
	if want := int64(1000 - others); a.Balance != want {
		t.Errorf("bank-1 holds %d there, want %d", a.Balance, want)
	}
}

package ledgerhttp_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
)

// followerFirst lists the replicas' URLs starting at a follower.
func (g *replicatedLedger) followerFirst(lead int) (string, int) {
	f := (lead + 1) % 3
	var u []string
	for k := range 3 {
		u = append(u, "http://"+g.http[(f+k)%3])
	}
	return strings.Join(u, ","), f
}

// The relay's mailboxes live in the leader's memory: a follower sends a
// bank's Send and Receive on to the leader, so two banks whose clients
// start at different replicas still reach each other.
func TestClient_MessagesBetweenBanksStartingAtDifferentReplicas(t *testing.T) {
	pub1, key1, _ := ed25519.GenerateKey(nil)
	pub2, key2, _ := ed25519.GenerateKey(nil)
	g := newReplicatedLedger(t, map[ledger.AccountID]ed25519.PublicKey{"bank-1": pub1, "bank-2": pub2})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	i := g.leader(10 * time.Second)
	if i < 0 {
		t.Fatal("no leader")
	}
	l := g.reps[i].Ledger()
	for _, b := range []ledger.AccountID{"bank-1", "bank-2"} {
		if _, err := l.OpenAccount(ctx, "open-"+string(b), ledger.AccountSpec{ID: b, Kind: ledger.KindIntermediary}); err != nil {
			t.Fatal(err)
		}
	}
	followerURLs, _ := g.followerFirst(i)
	leaderURLs := "http://" + g.http[i]
	for k := 1; k < 3; k++ {
		leaderURLs += ",http://" + g.http[(i+k)%3]
	}
	c1 := ledgerhttp.NewClient(leaderURLs, "bank-1", key1, nil)
	c2 := ledgerhttp.NewClient(followerURLs, "bank-2", key2, nil)
	// Let the follower learn of bank-2 (reads there are from its view).
	time.Sleep(500 * time.Millisecond)
	if err := c1.Send(ctx, "bank-2", []byte("request to pay")); err != nil {
		t.Fatalf("send: %v", err)
	}
	// bank-2's first call meets a follower, which sends it on; its
	// receive loop asks again, as a bank's does, now at the leader.
	var msgs []ledger.Message
	var err error
	for deadline := time.Now().Add(5 * time.Second); len(msgs) == 0 && time.Now().Before(deadline); {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		msgs, err = c2.Receive(rctx, 10)
		rcancel()
	}
	if len(msgs) != 1 {
		t.Errorf("bank-2 (calling %s) received %d messages (%v) that bank-1 (calling %s) sent and was told were delivered",
			c2.Replica(), len(msgs), err, c1.Replica())
	}
}

// A replica whose ledger has failed answers every operation
// storage_failed (ledger.admit checks failed() before it checks
// leadership), even once replica.keepLeading has handed the leadership
// on. The client turns from it, as from a follower, so a bank pointed
// at such a replica reaches the healthy leader, which is
// the next URL in its list.
func TestClient_TurnsFromAReplicaWhoseLedgerFailed(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	// The healthy side: a lone ledger, standing in for the group's leader.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	good := bankOneLedger(t, pub)
	// The failed replica, as it answers over HTTP.
	failed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/challenge":
			json.NewEncoder(w).Encode(map[string]any{"challenge": []byte("0123456789abcdef0123456789abcdef")})
		case "/v1/session":
			json.NewEncoder(w).Encode(map[string]any{"token": "t", "expires": time.Now().Add(time.Hour)})
		case "/v1/ops":
			json.NewEncoder(w).Encode(map[string]any{"results": []map[string]any{{"op_id": "x",
				"error": map[string]string{"code": ledger.ErrStorage.Code, "message": ledger.ErrStorage.Message}}}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer failed.Close()
	c := ledgerhttp.NewClient(failed.URL+","+good.URL, "bank-1", key, nil)
	var last error
	for range 20 { // a bank asks again under the same id while in doubt
		_, last = c.Issue(ctx, "issue-2", 10)
		if ledger.OutcomeOf(last) != ledger.InDoubt {
			break
		}
	}
	if last != nil {
		t.Errorf("after 20 tries the bank still calls %s and gets %v; the healthy leader at %s was never tried", c.Replica(), last, good.URL)
	}
}

// A replica that does not know the bank's key (its -credentials differ,
// or it was started with fewer -banks) refuses the sign-in with
// unauthenticated; the client turns from it to the next, which signs it
// in.
func TestClient_TurnsFromAReplicaThatRefusesItsSignIn(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	open := func(keys map[ledger.AccountID]ed25519.PublicKey) *httptest.Server {
		l, err := ledger.Open(t.TempDir(), ledger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		if _, err := l.OpenAccount(context.Background(), "open-bank-1", ledger.AccountSpec{ID: "bank-1", Kind: ledger.KindIntermediary}); err != nil {
			t.Fatal(err)
		}
		s := httptest.NewServer(ledgerhttp.NewServer(l, keys, ledgerhttp.ServerOptions{}))
		t.Cleanup(s.Close)
		return s
	}
	other, _, _ := ed25519.GenerateKey(nil)
	stranger := open(map[ledger.AccountID]ed25519.PublicKey{"bank-1": other}) // its own credentials
	good := open(map[ledger.AccountID]ed25519.PublicKey{"bank-1": pub})
	c := ledgerhttp.NewClient(stranger.URL+","+good.URL, "bank-1", key, nil)
	ctx := context.Background()
	var err error
	for range 10 {
		if _, err = c.Account(ctx, "bank-1"); err == nil {
			break
		}
	}
	if err != nil {
		t.Errorf("after 10 calls the bank still calls %s: %v; %s would sign it in", c.Replica(), err, good.URL)
	}
}

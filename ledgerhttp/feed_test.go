package ledgerhttp

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// TestClient_FeedMatchesTheLedger: over the network a bank's feed, paged,
// is what the ledger gives it in process: its own transfers and payments
// into its wallets from another bank, and not the other bank's own business.
func TestClient_FeedMatchesTheLedger(t *testing.T) {
	n := newTestNet(t)
	a, b := n.client["bank-a"], n.client["bank-b"]
	n.must(a.OpenAccount(n.ctx, "open-alice", ledger.AccountSpec{ID: "alice", Kind: ledger.KindWallet}))
	n.must(b.OpenAccount(n.ctx, "open-bob", ledger.AccountSpec{ID: "bob", Kind: ledger.KindWallet}))
	n.must(a.Issue(n.ctx, "float", 1_000))
	n.must(b.Issue(n.ctx, "float", 1_000))
	n.must(a.Transfer(n.ctx, "withdraw", "bank-a", "alice", 500))
	n.must(b.Transfer(n.ctx, "withdraw", "bank-b", "bob", 500))
	own := n.must(a.Transfer(n.ctx, "pay", "alice", "bob", 200))
	credit := n.must(b.Transfer(n.ctx, "pay", "bob", "alice", 50))
	deposit := n.must(b.Transfer(n.ctx, "deposit", "bob", "bank-b", 10))

	head := n.l.Totals().Seq
	got := readFeed(t, a, head, 2)
	want := readFeed(t, n.l.Intermediary("bank-a"), head, ledger.MaxPage)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("feed over the network:\n got %+v\nwant %+v", got, want)
	}
	seqs := func(events []ledger.Event) (out []uint64) {
		for _, e := range events {
			out = append(out, e.Seq)
		}
		return out
	}
	if s := seqs(got); !slices.Contains(s, own.Seq) || !slices.Contains(s, credit.Seq) || slices.Contains(s, deposit.Seq) {
		t.Errorf("bank-a's feed %v: want %d and %d, not %d", s, own.Seq, credit.Seq, deposit.Seq)
	}
	if s := seqs(readFeed(t, b, head, 0)); !slices.Contains(s, own.Seq) || !slices.Contains(s, deposit.Seq) {
		t.Errorf("bank-b's feed %v: want %d and %d", s, own.Seq, deposit.Seq)
	}
}

func TestClient_FeedWaitsForTheNextCommit(t *testing.T) {
	n := newTestNet(t)
	a := n.client["bank-a"]
	head := n.l.Totals().Seq
	got := feedAsync(n.ctx, a, head+1)
	select {
	case r := <-got:
		t.Fatalf("Feed at the head returned before a commit: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	issue := n.must(a.Issue(n.ctx, "float", 10))
	if r := <-got; r.err != nil || len(r.events) != 1 || r.events[0].Seq != issue.Seq || r.next != issue.Seq+1 {
		t.Errorf("woken by a commit: %+v", r)
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(n.ctx, 300*time.Millisecond)
	defer cancel()
	if _, _, err := a.Feed(ctx, issue.Seq+1, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a long poll whose context ends: err = %v", err)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("a long poll with 300ms to go took %v", took)
	}

	// The server's own wait passing is an empty answer, not an error.
	status, body := n.get("bank-a", "/v1/feed?wait=50ms&from="+strconv.FormatUint(issue.Seq+1, 10))
	if want := `{"events":[],"next":` + strconv.FormatUint(issue.Seq+1, 10) + `}`; status != http.StatusOK || strings.TrimSpace(body) != want {
		t.Errorf("a wait that passes: %d %s, want 200 %s", status, body, want)
	}
}

func TestClient_FeedEndsWhenLedgerCloses(t *testing.T) {
	n := newTestNet(t)
	got := feedAsync(n.ctx, n.client["bank-a"], n.l.Totals().Seq+1)
	time.Sleep(100 * time.Millisecond) // let the long poll reach the ledger
	if err := n.l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if !errors.Is(r.err, ledger.ErrClosed) {
			t.Errorf("waiting feed at close: %+v, want ledger_closed", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("closing the ledger did not end a waiting feed")
	}
}

func TestServer_LongPollsRefuseBadQueries(t *testing.T) {
	n := newTestNet(t)
	for _, path := range []string{
		"/v1/feed?from=x",
		"/v1/feed?from=-1",
		"/v1/feed?limit=ten",
		"/v1/feed?wait=forever",
		"/v1/feed?wait=31s",
		"/v1/feed?wait=-1s",
		"/v1/messages?max=-5",
		"/v1/messages?max=1.5",
		"/v1/messages?wait=1h",
		"/v1/messages?wait=20",
	} {
		status, body := n.get("bank-a", path)
		if status != http.StatusBadRequest || !strings.Contains(body, `"code":"bad_request"`) {
			t.Errorf("GET %s: %d %s, want 400 bad_request", path, status, body)
		}
	}
	resp, err := http.Get(n.srv.URL + "/v1/feed")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("feed without a session: status %d", resp.StatusCode)
	}
}

type feedResult struct {
	events []ledger.Event
	next   uint64
	err    error
}

func feedAsync(ctx context.Context, bank ledgerForBank, from uint64) <-chan feedResult {
	out := make(chan feedResult, 1)
	go func() {
		events, next, err := bank.Feed(ctx, from, 10)
		out <- feedResult{events, next, err}
	}()
	return out
}

// readFeed reads a bank's feed from the start to head, limit at a time,
// with times in UTC so that events that crossed the network compare equal.
func readFeed(t *testing.T, bank ledgerForBank, head uint64, limit int) []ledger.Event {
	t.Helper()
	var out []ledger.Event
	for from := uint64(1); from <= head; {
		page, next, err := bank.Feed(context.Background(), from, limit)
		if err != nil {
			t.Fatalf("%s: Feed(%d): %v", bank.ID(), from, err)
		}
		if limit > 0 && len(page) > limit {
			t.Fatalf("%s: Feed(%d, %d) gave %d events", bank.ID(), from, limit, len(page))
		}
		for _, e := range page {
			e.Time = e.Time.UTC()
			out = append(out, e)
		}
		from = next
	}
	return out
}

// get sends an authenticated GET as bank and returns the status and body.
func (n *testNet) get(bank ledger.AccountID, path string) (int, string) {
	n.t.Helper()
	token, err := n.client[bank].session(n.ctx)
	if err != nil {
		n.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, n.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestClient_LongPollsAskAgain: when the server's waits pass with nothing
// to answer, the client asks again for as long as its context allows.
func TestClient_LongPollsAskAgain(t *testing.T) {
	n := newTestNet(t)
	public := map[ledger.AccountID]ed25519.PublicKey{}
	for id, key := range n.keys {
		public[id] = key.Public().(ed25519.PublicKey)
	}
	inner := NewServer(n.l, public, ServerOptions{})
	var polls atomic.Int64
	short := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); q.Has("wait") { // the server cuts every wait short
			polls.Add(1)
			q.Set("wait", "20ms")
			r.URL.RawQuery = q.Encode()
		}
		inner.ServeHTTP(w, r)
	}))
	defer short.Close()
	a := NewClient(short.URL, "bank-a", n.keys["bank-a"], short.Client())
	b := NewClient(short.URL, "bank-b", n.keys["bank-b"], short.Client())

	feed := feedAsync(n.ctx, a, n.l.Totals().Seq+1)
	msgs := make(chan []ledger.Message, 1)
	go func() { msgs <- n.receive(b, 10) }()
	time.Sleep(300 * time.Millisecond)
	issue := n.must(a.Issue(n.ctx, "float", 10))
	if err := a.Send(n.ctx, "bank-b", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if r := <-feed; r.err != nil || len(r.events) != 1 || r.events[0].Seq != issue.Seq {
		t.Errorf("feed after several empty polls: %+v", r)
	}
	if m := <-msgs; len(m) != 1 || string(m[0].Body) != "hello" {
		t.Errorf("received %v after several empty polls", m)
	}
	if p := polls.Load(); p < 6 {
		t.Errorf("%d polls in 300ms of 20ms waits: the client did not ask again", p)
	}
}

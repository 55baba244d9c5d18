package ledgerhttp

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// A bank runs the same code against the ledger in its own process and
// over the network: both implement the interface banks use.
type ledgerForBank = intermediary.Ledger

var (
	_ ledgerForBank = (*ledger.Intermediary)(nil)
	_ ledgerForBank = (*Client)(nil)
)

type testNet struct {
	t      *testing.T
	l      *ledger.Ledger
	srv    *httptest.Server
	keys   map[ledger.AccountID]ed25519.PrivateKey
	clock  atomic.Int64 // seconds added to the real time
	ctx    context.Context
	client map[ledger.AccountID]*Client
}

// newTestNet runs a ledger with bank-a and bank-b behind a real HTTP server.
func newTestNet(t *testing.T) *testNet {
	n := &testNet{t: t, ctx: context.Background(), keys: map[ledger.AccountID]ed25519.PrivateKey{}, client: map[ledger.AccountID]*Client{}}
	dir := t.TempDir()
	l, err := ledger.Open(dir, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n.l = l
	public := map[ledger.AccountID]ed25519.PublicKey{}
	for _, id := range []ledger.AccountID{"bank-a", "bank-b"} {
		pub, priv, _ := ed25519.GenerateKey(nil)
		n.keys[id], public[id] = priv, pub
		if _, err := l.OpenAccount(n.ctx, "open-"+string(id), ledger.AccountSpec{ID: id, Kind: ledger.KindIntermediary}); err != nil {
			t.Fatal(err)
		}
	}
	now := func() time.Time { return time.Now().Add(time.Duration(n.clock.Load()) * time.Second) }
	n.srv = httptest.NewServer(NewServer(l, public, ServerOptions{Now: now}))
	for id, key := range n.keys {
		n.client[id] = NewClient(n.srv.URL, id, key, n.srv.Client())
	}
	t.Cleanup(func() {
		n.srv.Close()
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		rep, err := ledger.Audit(dir)
		if err != nil || !rep.OK() {
			t.Errorf("audit after the test: %v %v", err, rep.Problems)
		}
	})
	return n
}

func (n *testNet) must(r ledger.Receipt, err error) ledger.Receipt {
	n.t.Helper()
	if err != nil {
		n.t.Fatal(err)
	}
	return r
}

func TestClient_TwoBanksPayEachOther(t *testing.T) {
	n := newTestNet(t)
	a, b := n.client["bank-a"], n.client["bank-b"]
	n.must(a.OpenAccount(n.ctx, "open-alice", ledger.AccountSpec{ID: "alice", Kind: ledger.KindWallet}))
	n.must(b.OpenAccount(n.ctx, "open-bob", ledger.AccountSpec{ID: "bob", Kind: ledger.KindWallet}))
	n.must(a.Issue(n.ctx, "float", 1_000))
	n.must(a.Transfer(n.ctx, "withdraw", "bank-a", "alice", 500))
	pay := n.must(a.Transfer(n.ctx, "pay-1", "alice", "bob", 200))
	if again := n.must(a.Transfer(n.ctx, "pay-1", "alice", "bob", 200)); again.Seq != pay.Seq || !again.Time.Equal(pay.Time) {
		t.Errorf("retry over the network = %+v, want %+v", again, pay)
	}
	if bob, err := b.Account(n.ctx, "bob"); err != nil || bob.Balance != 200 {
		t.Errorf("bob at bank-b: %+v, %v", bob, err)
	}
	if _, err := a.Account(n.ctx, "bob"); !errors.Is(err, ledger.ErrNotYours) {
		t.Errorf("bank-a reading bob: err = %v, want not_your_account", err)
	}
	if _, err := b.Transfer(n.ctx, "steal", "alice", "bob", 1); !errors.Is(err, ledger.ErrNotYours) {
		t.Errorf("bank-b paying out of alice: err = %v, want not_your_account", err)
	}
	if _, err := a.Transfer(n.ctx, "too-much", "alice", "bob", 10_000); !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Errorf("overdraft: err = %v", err)
	}
	events, next, err := a.History(n.ctx, "alice", 0, 10)
	if err != nil || len(events) != 3 || next != 0 || events[0].Seq != pay.Seq || events[0].Origin != "bank-a" {
		t.Errorf("alice's history: %+v, next %d, %v", events, next, err)
	}
	if tot, err := b.Totals(n.ctx); err != nil || tot.Circulation != 1_000 || !tot.Conserved() {
		t.Errorf("totals: %+v, %v", tot, err)
	}
}

func TestClient_HoldingLimitAcrossBanks(t *testing.T) {
	n := newTestNet(t)
	a, b := n.client["bank-a"], n.client["bank-b"]
	n.must(a.OpenAccount(n.ctx, "open-alice", ledger.AccountSpec{ID: "alice", Kind: ledger.KindWallet}))
	n.must(a.OpenAccount(n.ctx, "open-dan-a", ledger.AccountSpec{ID: "dan-a", Kind: ledger.KindWallet,
		Holder: "tok:dan", Limits: ledger.Limits{Holding: 1_000}}))
	n.must(b.OpenAccount(n.ctx, "open-dan-b", ledger.AccountSpec{ID: "dan-b", Kind: ledger.KindWallet,
		Holder: "tok:dan", Limits: ledger.Limits{Sweep: true}}))
	n.must(a.Issue(n.ctx, "float", 10_000))
	n.must(a.Batch(n.ctx, "fund", []ledger.Transfer{{From: "bank-a", To: "alice", Amount: 5_000}, {From: "bank-a", To: "dan-a", Amount: 800}}))
	if acct, err := b.Account(n.ctx, "dan-b"); err != nil || acct.Holder != "tok:dan" || !acct.Limits.Sweep {
		t.Errorf("dan-b at bank-b: %+v, %v", acct, err)
	}
	pay := n.must(a.Transfer(n.ctx, "pay", "alice", "dan-b", 300)) // 100 over the shared limit
	want := ledger.Holding{Holder: "tok:dan", Wallets: 2, Holdings: 1_000, Limit: 1_000}
	for _, c := range []*Client{a, b} {
		if got, err := c.Holder(n.ctx, "tok:dan"); err != nil || got != want {
			t.Errorf("%s reads the holder: %+v, %v; want %+v", c.ID(), got, err, want)
		}
	}
	events, _, err := b.History(n.ctx, "bank-b", 0, 1)
	if err != nil || len(events) != 1 || events[0].Seq != pay.Seq ||
		len(events[0].Sweeps) != 1 || events[0].Sweeps[0] != (ledger.Transfer{From: "dan-b", To: "bank-b", Amount: 100}) {
		t.Errorf("bank-b's history: %+v, %v; want the payment with its sweep", events, err)
	}
	n.must(a.SetLimits(n.ctx, "lower", "dan-a", ledger.Limits{Holding: 500}))
	n.must(b.SetLimits(n.ctx, "no-sweep", "dan-b", ledger.Limits{}))
	if _, err := a.Transfer(n.ctx, "pay-2", "alice", "dan-b", 1); !errors.Is(err, ledger.ErrHoldingLimit) {
		t.Errorf("credit over the lowered limit: err = %v, want holding_limit", err)
	}
	if _, err := b.SetLimits(n.ctx, "steal", "dan-a", ledger.Limits{}); !errors.Is(err, ledger.ErrNotYours) {
		t.Errorf("bank-b setting dan-a's limits: err = %v, want not_your_account", err)
	}
	if _, err := b.Holder(n.ctx, "tok:nobody"); !errors.Is(err, ledger.ErrNotYours) {
		t.Errorf("unknown holder: err = %v, want not_your_account", err)
	}
	if _, err := b.Holder(n.ctx, "bad token"); !errors.Is(err, ledger.ErrInvalidHolder) {
		t.Errorf("malformed holder token: err = %v, want invalid_holder", err)
	}
}

func TestServer_RefusesWithoutValidSession(t *testing.T) {
	n := newTestNet(t)
	resp, err := http.Get(n.srv.URL + "/v1/totals")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401", resp.StatusCode)
	}
	signIn := func(as ledger.AccountID, key ed25519.PrivateKey, challenge []byte) int {
		sig := ed25519.Sign(key, sessionMessage(as, challenge))
		return postJSON(t, n.srv.URL+"/v1/session", sessionRequest{Intermediary: as, Challenge: challenge, Signature: sig})
	}
	c := n.challenge()
	if got := signIn("bank-b", n.keys["bank-a"], c); got != http.StatusUnauthorized {
		t.Errorf("bank-a's key claiming bank-b: status %d", got)
	}
	if got := signIn("bank-a", n.keys["bank-a"], c); got != http.StatusUnauthorized {
		t.Errorf("a challenge used twice: status %d", got)
	}
	if got := signIn("bank-z", n.keys["bank-a"], n.challenge()); got != http.StatusUnauthorized {
		t.Errorf("unknown intermediary: status %d", got)
	}
	if got := signIn("bank-a", n.keys["bank-a"], []byte("made up")); got != http.StatusUnauthorized {
		t.Errorf("a challenge never issued: status %d", got)
	}
	stale := n.challenge()
	n.clock.Add(60)
	if got := signIn("bank-a", n.keys["bank-a"], stale); got != http.StatusUnauthorized {
		t.Errorf("a stale challenge: status %d", got)
	}
	if got := signIn("bank-a", n.keys["bank-a"], n.challenge()); got != http.StatusOK {
		t.Errorf("a good sign-in: status %d", got)
	}
}

func TestClient_SignsInAgainWhenSessionExpires(t *testing.T) {
	n := newTestNet(t)
	a := n.client["bank-a"]
	n.must(a.Issue(n.ctx, "one", 10))
	n.clock.Add(int64(2 * DefaultSessionTTL / time.Second))
	n.must(a.Issue(n.ctx, "two", 10))
}

func TestServer_BadInput(t *testing.T) {
	n := newTestNet(t)
	a := n.client["bank-a"]
	n.must(a.Issue(n.ctx, "float", 1)) // so that issuing the largest amount overflows
	token, err := a.session(n.ctx)
	if err != nil {
		t.Fatal(err)
	}
	post := func(body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/v1/ops", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		return resp.StatusCode, buf.String()
	}
	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"malformed JSON", `{"ops": [`, 400, "bad_request"},
		{"unknown field", `{"ops": [], "extra": 1}`, 400, "bad_request"},
		{"no operations", `{"ops": []}`, 400, "bad_request"},
		{"too many operations", `{"ops": [` + strings.Repeat(`{"type":"issue","op_id":"x","amount":1},`, MaxOpsPerRequest) + `{}]}`, 400, "bad_request"},
		{"oversized body", `{"ops": [{"type":"issue","op_id":"` + strings.Repeat("x", maxBody) + `"}]}`, 413, "too_large"},
		{"unknown operation type", `{"ops": [{"type":"mint","op_id":"x","amount":1}]}`, 200, "bad_op"},
		{"transfer without a transfer", `{"ops": [{"type":"transfer","op_id":"x"}]}`, 200, "bad_op"},
		{"open without an account", `{"ops": [{"type":"open","op_id":"x"}]}`, 200, "bad_op"},
		{"unknown account kind", `{"ops": [{"type":"open","op_id":"x","account":{"id":"w","kind":"piggybank"}}]}`, 200, "bad_op"},
		{"limits without limits", `{"ops": [{"type":"limits","op_id":"x","account_id":"w"}]}`, 200, "bad_op"},
		{"unknown field in limits", `{"ops": [{"type":"limits","op_id":"x","account_id":"w","limits":{"holding":1,"max":2}}]}`, 400, "bad_request"},
		{"negative holding limit", `{"ops": [{"type":"open","op_id":"x","account":{"id":"w","kind":"wallet","limits":{"holding":-1}}}]}`, 200, "invalid_amount"},
		{"malformed holder token", `{"ops": [{"type":"open","op_id":"x","account":{"id":"w","kind":"wallet","holder":"a b"}}]}`, 200, "invalid_holder"},
		{"negative amount", `{"ops": [{"type":"issue","op_id":"x","amount":-5}]}`, 200, "invalid_amount"},
		{"overflowing amount", `{"ops": [{"type":"issue","op_id":"x","amount":9223372036854775807}]}`, 200, "amount_overflow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(tt.body)
			if status != tt.status || !strings.Contains(body, `"code":"`+tt.code+`"`) {
				t.Errorf("status %d, body %.200s; want %d with code %s", status, body, tt.status, tt.code)
			}
		})
	}
	// The session still works after all that.
	n.must(a.Issue(n.ctx, "after", 1))
	if tot, _ := a.Totals(n.ctx); tot.Circulation != 2 {
		t.Errorf("circulation %d after refused input, want 2", tot.Circulation)
	}
}

func (n *testNet) challenge() []byte {
	n.t.Helper()
	resp, err := http.Get(n.srv.URL + "/v1/challenge")
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var c challengeResponse
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		n.t.Fatal(err)
	}
	return c.Challenge
}

func postJSON(t *testing.T, url string, v any) int {
	t.Helper()
	b, _ := json.Marshal(v)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

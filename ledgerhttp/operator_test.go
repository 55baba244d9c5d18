package ledgerhttp_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

const testOperatorToken = "0123456789abcdef0123456789abcdef"

// The operator's reads refuse every caller but the operator: no token, a
// bank's session, another token, and every call at a ledger started
// without a token.
func TestOperator_ReadsNeedTheOperatorsToken(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	_, s := serveBankOne(t, pub, ledgerhttp.ServerOptions{OperatorToken: testOperatorToken})
	_, tokenless := serveBankOne(t, pub, ledgerhttp.ServerOptions{})
	ctx := context.Background()
	bank := ledgerhttp.NewClient(s.URL, "bank-1", key, nil)
	if _, err := bank.Totals(ctx); err != nil { // signs the bank in
		t.Fatal(err)
	}
	paths := []string{"/v1/journal?from=1", "/v1/audit", "/v1/offline/summary", "/v1/offline/devices/00000000000000000000000000000001",
		"/v1/offline/vouchers/" + strings.Repeat("0", 64)}
	for _, path := range paths {
		for _, c := range []struct {
			name, base, auth string
			status           int
		}{
			{"no token", s.URL, "", http.StatusUnauthorized},
			{"another token", s.URL, "Bearer " + strings.Repeat("f", 32), http.StatusUnauthorized},
			{"the token with a prefix", s.URL, "Bearer x" + testOperatorToken, http.StatusUnauthorized},
			{"the token not as a bearer", s.URL, testOperatorToken, http.StatusUnauthorized},
			{"a ledger without a token", tokenless.URL, "Bearer " + testOperatorToken, http.StatusForbidden},
			{"a ledger without a token, none sent", tokenless.URL, "Bearer ", http.StatusForbidden},
		} {
			if status, body := getWith(t, c.base+path, c.auth); status != c.status {
				t.Errorf("GET %s with %s: %d, want %d: %s", path, c.name, status, c.status, body)
			}
		}
	}
	// The operator reads the totals a bank reads; the bank still does.
	if status, body := getWith(t, s.URL+"/v1/totals", "Bearer "+testOperatorToken); status != http.StatusOK || !strings.Contains(body, `"Circulation":1000`) {
		t.Errorf("the operator's totals: %d %s", status, body)
	}
	if _, err := bank.Totals(ctx); err != nil {
		t.Errorf("the bank's totals beside the operator's: %v", err)
	}
}

func getWith(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The journal read agrees with the ledger's journal, page by page, and a
// read past the head waits for the next commit and answers with it.
func TestOperator_JournalFollowsTheLedger(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	l, s := serveBankOne(t, pub, ledgerhttp.ServerOptions{OperatorToken: testOperatorToken})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 7 {
		if _, err := l.Redeem(ctx, fmt.Sprintf("redeem-%d", i), "bank-1", 10); err != nil {
			t.Fatal(err)
		}
	}
	op := &ledgerhttp.Operator{URLs: []string{s.URL}, Token: testOperatorToken}
	var read []ledger.Event
	for from := uint64(1); ; {
		p, err := op.Journal(ctx, from, 3, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Events) == 0 {
			break
		}
		if len(p.Events) > 3 {
			t.Fatalf("a page of limit 3 held %d", len(p.Events))
		}
		read = append(read, p.Events...)
		from = p.Events[len(p.Events)-1].Seq + 1
	}
	want, err := l.Events(1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(read) != len(want) {
		t.Fatalf("read %d operations, the journal holds %d", len(read), len(want))
	}
	for i := range want {
		if read[i].Seq != want[i].Seq || read[i].OpID != want[i].OpID {
			t.Fatalf("operation %d: read %d %s, the journal has %d %s", i, read[i].Seq, read[i].OpID, want[i].Seq, want[i].OpID)
		}
	}

	head := l.Totals().Seq
	got := make(chan ledgerhttp.JournalPage, 1)
	go func() {
		p, err := op.Journal(ctx, head+1, 0, 5*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- p
	}()
	time.Sleep(100 * time.Millisecond) // the read is waiting at the ledger
	if _, err := l.Redeem(ctx, "redeem-late", "bank-1", 1); err != nil {
		t.Fatal(err)
	}
	if p := <-got; len(p.Events) != 1 || p.Events[0].OpID != "redeem-late" || p.Head != head+1 {
		t.Errorf("the waiting read answered %+v, want the one operation committed meanwhile", p)
	}
	start := time.Now()
	if p, err := op.Journal(ctx, head+2, 0, 100*time.Millisecond); err != nil || len(p.Events) != 0 {
		t.Errorf("a read past the head that nothing follows: %+v, %v", p, err)
	} else if time.Since(start) < 100*time.Millisecond {
		t.Errorf("a read past the head answered after %s, before its wait of 100ms", time.Since(start))
	}
}

// The operator's client turns from a replica that does not answer, or
// does not settle, to the next, and stays with the one that answered.
func TestOperator_ReadsGoOnAtTheNextReplica(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, _ := serveBankOne(t, pub, ledgerhttp.ServerOptions{})
	st, err := settlement.Open(ctx, l, settlement.Config{Policy: offline.DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// A follower: it answers the journal, but settlement is the leader's.
	follower := httptest.NewServer(ledgerhttp.NewServer(l, nil, ledgerhttp.ServerOptions{OperatorToken: testOperatorToken,
		Offline: func() *settlement.Settler { return nil }}))
	defer follower.Close()
	settling := httptest.NewServer(ledgerhttp.NewServer(l, nil, ledgerhttp.ServerOptions{OperatorToken: testOperatorToken, Settler: st}))
	defer settling.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()

	op := &ledgerhttp.Operator{URLs: []string{dead.URL, follower.URL, settling.URL}, Token: testOperatorToken}
	if a, err := op.Audit(ctx); err != nil || !a.Conserved || a.Running != a.Counted {
		t.Fatalf("the audit past a dead replica: %+v, %v", a, err)
	}
	sum, err := op.OfflineSummary(ctx)
	if err != nil || sum.Policy.PurseCap != offline.DefaultPurseCap || sum.Policy.Mode != "staged" {
		t.Fatalf("settlement's figures past a follower: %+v, %v", sum, err)
	}
	if _, err := op.OfflineDevice(ctx, offline.Serial{1}); !errors.Is(err, settlement.ErrUnknownDevice) {
		t.Errorf("an unknown purse: %v, want unknown_device", err)
	}
	if _, err := op.OfflineVoucher(ctx, offline.Hash{1}); err == nil || !strings.Contains(err.Error(), "has been handed in") {
		t.Errorf("an unknown voucher: %v", err)
	}
	if _, err := (&ledgerhttp.Operator{URLs: []string{dead.URL}, Token: testOperatorToken}).Audit(ctx); err == nil {
		t.Error("an audit where no replica answers succeeded")
	}
	if _, err := (&ledgerhttp.Operator{URLs: []string{settling.URL}, Token: "wrong"}).Audit(ctx); err == nil || !strings.Contains(err.Error(), "operator") {
		t.Errorf("an audit with the wrong token: %v", err)
	}
}

// Pages of large batches stay within what a client reads: the journal
// read over them sends fewer operations a page, and every one arrives.
func TestOperator_LargeBatchesComeInPagesThatFit(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	l, s := serveBankOne(t, pub, ledgerhttp.ServerOptions{OperatorToken: testOperatorToken})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, id := range []ledger.AccountID{"alice", "bob"} {
		if _, err := l.OpenAccount(ctx, "open-"+string(id), ledger.AccountSpec{ID: id, Kind: ledger.KindWallet, Intermediary: "bank-1"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Transfer(ctx, "fund-alice", "bank-1", "alice", 1000); err != nil {
		t.Fatal(err)
	}
	const batches = 60
	for i := range batches {
		var ts []ledger.Transfer
		for range 500 {
			ts = append(ts, ledger.Transfer{From: "alice", To: "bob", Amount: 1}, ledger.Transfer{From: "bob", To: "alice", Amount: 1})
		}
		if _, err := l.Batch(ctx, fmt.Sprintf("batch-%d", i), ts); err != nil {
			t.Fatal(err)
		}
	}
	op := &ledgerhttp.Operator{URLs: []string{s.URL}, Token: testOperatorToken}
	seen, pages := 0, 0
	for from := uint64(1); ; pages++ {
		p, err := op.Journal(ctx, from, 0, 0)
		if err != nil {
			t.Fatalf("page %d from %d: %v", pages, from, err)
		}
		if len(p.Events) == 0 {
			break
		}
		for _, e := range p.Events {
			if e.Seq != from {
				t.Fatalf("operation %d where %d was next", e.Seq, from)
			}
			if e.Op == "batch" {
				seen++
			}
			from++
		}
	}
	if seen != batches || pages < 3 {
		t.Errorf("read %d batches in %d pages, want %d in several", seen, pages, batches)
	}
}

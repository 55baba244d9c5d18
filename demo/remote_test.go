package demo

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// The demo reads a ledger in another process through the operator's
// calls: it starts from the head it finds once the ledger answers (not
// from the journal's first record), and through outages of the ledger's
// HTTP server a page sees every later record once, in order.
func TestFeed_ReadsARemoteLedgerThroughOutages(t *testing.T) {
	r := newRoomRig(t)
	r.stopDemo()
	const token = "0123456789abcdef0123456789abcdef"
	var up atomic.Bool
	api := ledgerhttp.NewServer(r.l, nil, ledgerhttp.ServerOptions{OperatorToken: token, Settler: r.st})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		api.ServeHTTP(w, req)
	}))
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	remote := NewRemoteLedger(ctx, &ledgerhttp.Operator{URLs: []string{dead.URL, srv.URL}, Token: token}, nil)
	cfg := Config{Ledger: remote, Offline: remote}
	for i, b := range r.banks {
		cfg.Banks = append(cfg.Banks, Bank{Bank: b.Bank, WalletURL: "ws://" + r.addrs[i] + protocol.Path})
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.demo, r.web = d, httptest.NewServer(d.Handler())
	page := r.openLive()
	n := 0
	issue := func(k int) {
		for range k {
			n++
			if _, err := r.l.Issue(context.Background(), fmt.Sprint("remote-feed-", n), "bank-1", 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	issue(3) // before the demo could read the ledger
	up.Store(true)
	startHead := r.l.Totals().Seq
	r.eventually("the page shows operations once the ledger answers", func() (bool, string) {
		issue(1)
		return len(ledgerSeqs(page)) >= 3, fmt.Sprint(ledgerSeqs(page))
	})
	if first := ledgerSeqs(page)[0]; first <= startHead {
		t.Errorf("the feed began at record %d, from before the head (%d) it found", first, startHead)
	}
	for round := range 3 {
		up.Store(false)
		issue(5 + round) // committed while the demo cannot read
		up.Store(true)
		issue(2)
	}
	end := r.l.Totals().Seq
	r.seesEachOnceInOrder(page, end)
	if st := r.state(); !st.Conserved || st.Totals.Seq != end || st.Offline == nil {
		t.Errorf("the overview from the remote ledger: conserved %v, seq %d of %d, offline %+v", st.Conserved, st.Totals.Seq, end, st.Offline)
	}
}

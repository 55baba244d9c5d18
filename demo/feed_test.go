package demo

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// cutLedger is a ledger whose subscriptions the test ends, as a replica
// that stops ends them, and which takes no new ones while it is shut.
type cutLedger struct {
	*ledger.Ledger
	mu   sync.Mutex
	cond *sync.Cond
	shut bool
	subs []*ledger.Subscription
}

func newCutLedger(l *ledger.Ledger) *cutLedger {
	c := &cutLedger{Ledger: l}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *cutLedger) Subscribe(buffer int) *ledger.Subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.shut {
		c.cond.Wait()
	}
	s := c.Ledger.Subscribe(buffer)
	c.subs = append(c.subs, s)
	return s
}

// cut ends every subscription and takes no new one until open.
func (c *cutLedger) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shut = true
	for _, s := range c.subs {
		s.Close()
	}
	c.subs = nil
}

func (c *cutLedger) open() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shut = false
	c.cond.Broadcast()
}

// seesEachOnceInOrder waits until the page has been shown record end,
// then requires it was shown every record from its first, each once, in
// order.
func (r *roomRig) seesEachOnceInOrder(page *liveFeed, end uint64) {
	r.t.Helper()
	r.eventually("the page shows every operation", func() (bool, string) {
		seqs := ledgerSeqs(page)
		return len(seqs) > 0 && seqs[len(seqs)-1] == end, fmt.Sprint(seqs)
	})
	seqs := ledgerSeqs(page)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			r.t.Fatalf("the page was shown records %v: not each once, in order", seqs)
		}
	}
}

// ledgerSeqs are the journal records a page was shown, in order.
func ledgerSeqs(f *liveFeed) []uint64 {
	var out []uint64
	for _, m := range f.received("event") {
		if m.Event.Kind == "ledger" {
			out = append(out, uint64(m.Event.Args["seq"].(float64)))
		}
	}
	return out
}

// The feed's subscription ends (its replica stopped) while operations
// are committed: the demo subscribes again and shows what it missed from
// the journal, so a page sees every record once, in order.
func TestFeed_ResumesBySequence(t *testing.T) {
	r := newRoomRig(t)
	r.stopDemo()
	cl := newCutLedger(r.l)
	st := r.st
	cfg := Config{Ledger: cl, Offline: Settling(func() *settlement.Settler { return st })}
	for i, b := range r.banks {
		cfg.Banks = append(cfg.Banks, Bank{Bank: b.Bank, WalletURL: "ws://" + r.addrs[i] + protocol.Path})
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.demo, r.web = d, httptest.NewServer(d.Handler())
	page := r.openLive()
	ctx := context.Background()
	n := 0
	issue := func(k int) {
		for range k {
			n++
			if _, err := r.l.Issue(ctx, fmt.Sprint("feed-test-", n), "bank-1", 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The feed starts from what is committed once it has subscribed.
	r.eventually("the page shows the first operations", func() (bool, string) {
		issue(1)
		return len(ledgerSeqs(page)) >= 3, fmt.Sprint(ledgerSeqs(page))
	})
	for round := range 3 {
		cl.cut()
		issue(5 + round) // committed while the demo has no subscription
		cl.open()
		issue(2)
	}
	end := r.l.Totals().Seq
	r.seesEachOnceInOrder(page, end)
}

package ledger

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestIntermediary_FeedShowsWhatConcernsTheBank checks each bank's feed
// against every event of the journal filtered by who the event's accounts
// belong to: its own transfers, payments into its wallets from another
// bank, and nothing that touches only other banks' accounts.
func TestIntermediary_FeedShowsWhatConcernsTheBank(t *testing.T) {
	f := newFixture(t)
	a, b := f.l.Intermediary("bank-a"), f.l.Intermediary("bank-b")
	own := f.must(a.Transfer(f.ctx, "pay", "alice", "bob", 100))
	credit := f.must(b.Transfer(f.ctx, "pay", "bob", "alice", 40))
	others := []Receipt{
		f.must(b.Transfer(f.ctx, "sweep", "bob", "bank-b", 10)),
		f.must(f.l.Issue(f.ctx, f.id(), "bank-b", 5)),
		f.must(b.OpenAccount(f.ctx, "open-carol", AccountSpec{ID: "carol", Kind: KindWallet})),
		f.must(b.Batch(f.ctx, "batch", []Transfer{{"bob", "carol", 1}, {"bank-b", "loss", 1}})),
	}
	f.must(a.OpenAccount(f.ctx, "open-dave", AccountSpec{ID: "dave", Kind: KindWallet}))
	f.must(a.Batch(f.ctx, "batch", []Transfer{{"alice", "dave", 5}, {"bank-a", "escrow-a", 1}}))
	f.must(f.l.Transfer(f.ctx, f.id(), "bob", "escrow-a", 1)) // central bank, into bank-a's escrow

	for _, bank := range []*Intermediary{a, b} {
		got := f.readFeed(bank, 1, MaxPage)
		if want := f.eventsConcerning(bank.ID()); !reflect.DeepEqual(got, want) {
			t.Errorf("%s's feed:\n got %v\nwant %v", bank.ID(), seqs(got), seqs(want))
		}
	}
	feedA := seqs(f.readFeed(a, 1, MaxPage))
	for _, r := range []Receipt{own, credit} {
		if !slices.Contains(feedA, r.Seq) {
			t.Errorf("bank-a's feed %v lacks record %d", feedA, r.Seq)
		}
	}
	for _, r := range others {
		if slices.Contains(feedA, r.Seq) {
			t.Errorf("bank-a's feed %v has record %d, which touches only bank-b's accounts", feedA, r.Seq)
		}
	}
}

func TestIntermediary_FeedPages(t *testing.T) {
	f := newFixture(t)
	a := f.l.Intermediary("bank-a")
	for i := range 7 {
		f.must(a.Transfer(f.ctx, "p"+strconv.Itoa(i), "alice", "bob", 1))
		f.must(f.l.Transfer(f.ctx, f.id(), "bob", "bank-b", 1))
	}
	var got []Event
	prev := uint64(0)
	for from := uint64(1); from <= f.l.Totals().Seq; {
		page, next, err := a.Feed(f.ctx, from, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 || next <= prev || next <= from {
			t.Fatalf("Feed(%d, 2) = %d events, next %d after %d", from, len(page), next, prev)
		}
		if len(page) == 2 && next != page[1].Seq+1 {
			t.Errorf("a full page ends at %d, next %d", page[len(page)-1].Seq, next)
		}
		got = append(got, page...)
		prev, from = next, next
	}
	if want := f.eventsConcerning("bank-a"); !reflect.DeepEqual(got, want) {
		t.Errorf("paged feed:\n got %v\nwant %v", seqs(got), seqs(want))
	}
}

func TestIntermediary_FeedScanIsBounded(t *testing.T) {
	f := newFixture(t)
	a := f.l.Intermediary("bank-a")
	from := f.lastSeq + 1
	noise := feedScan + 100
	err := parallel(64, noise, func(i int) error {
		_, err := f.l.Transfer(f.ctx, "noise-"+strconv.Itoa(i), "bob", "bank-b", 1)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	head := f.l.Totals().Seq
	events, next, err := a.Feed(f.ctx, from, 10)
	if err != nil || len(events) != 0 || next != from+feedScan {
		t.Fatalf("Feed(%d) over other banks' records = %d events, next %d, %v; want none, next %d", from, len(events), next, err, from+feedScan)
	}
	events, next, err = a.Feed(f.ctx, next, 10)
	if err != nil || len(events) != 0 || next != head+1 {
		t.Fatalf("second call = %d events, next %d, %v; want none, next %d", len(events), next, err, head+1)
	}
	pay := f.must(a.Transfer(f.ctx, "pay", "alice", "bob", 1))
	events, _, err = a.Feed(f.ctx, next, 10)
	if err != nil || len(events) != 1 || events[0].Seq != pay.Seq {
		t.Fatalf("after a payment: %+v, %v", events, err)
	}
}

func TestIntermediary_FeedWaitsAtTheHead(t *testing.T) {
	f := newFixture(t)
	a := f.l.Intermediary("bank-a")
	head := f.l.Totals().Seq

	got := f.feedAsync(a, head+1)
	waitFor(t, "a feed waiting at the head", f.l.feedWaiting)
	select {
	case r := <-got:
		t.Fatalf("Feed at the head returned before a commit: %+v", r)
	default:
	}
	f.must(f.l.Transfer(f.ctx, f.id(), "bob", "bank-b", 1)) // not bank-a's
	if r := <-got; r.err != nil || len(r.events) != 0 || r.next != head+2 {
		t.Fatalf("woken by another bank's record: %+v, want no events and next %d", r, head+2)
	}

	got = f.feedAsync(a, head+2)
	waitFor(t, "a feed waiting at the head", f.l.feedWaiting)
	pay := f.must(a.Transfer(f.ctx, "pay", "alice", "bob", 1))
	if r := <-got; r.err != nil || len(r.events) != 1 || r.events[0].Seq != pay.Seq || r.next != pay.Seq+1 {
		t.Fatalf("woken by its own payment: %+v", r)
	}

	ctx, cancel := context.WithTimeout(f.ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := a.Feed(ctx, pay.Seq+1, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Feed whose context ends: err = %v", err)
	}
}

func TestIntermediary_FeedEndsWhenLedgerCloses(t *testing.T) {
	f := newFixture(t)
	a := f.l.Intermediary("bank-a")
	got := f.feedAsync(a, f.l.Totals().Seq+1)
	waitFor(t, "a feed waiting at the head", f.l.feedWaiting)
	if err := f.l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if !errors.Is(r.err, ErrClosed) {
			t.Errorf("waiting feed at close: %+v, want ErrClosed", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake a waiting feed")
	}
	if _, _, err := a.Feed(f.ctx, 1, 10); !errors.Is(err, ErrClosed) {
		t.Errorf("Feed on a closed ledger: err = %v", err)
	}
}

// TestIntermediary_FeedAndRelayRefuseNonBanks: whoever is not an open
// intermediary gets the errors its operations would.
func TestIntermediary_FeedAndRelayRefuseNonBanks(t *testing.T) {
	f := newFixture(t)
	f.open("bank-c", KindIntermediary, "")
	f.must(f.l.CloseAccount(f.ctx, f.id(), "bank-c"))
	tests := []struct {
		as   AccountID
		want *Error
	}{
		{"alice", ErrWrongKind},
		{IssuanceAccount, ErrWrongKind},
		{"bank-z", ErrUnknownAccount},
		{"bank-c", ErrAccountClosed},
		{"not an id", ErrInvalidAccountID},
	}
	ctx, cancel := context.WithTimeout(f.ctx, 5*time.Second)
	defer cancel()
	for _, tt := range tests {
		t.Run(string(tt.as), func(t *testing.T) {
			bank := f.l.Intermediary(tt.as)
			if _, _, err := bank.Feed(ctx, 1, 10); !errors.Is(err, tt.want) {
				t.Errorf("Feed: err = %v, want %s", err, tt.want.Code)
			}
			if err := bank.Send(ctx, "bank-a", []byte("hi")); !errors.Is(err, tt.want) {
				t.Errorf("Send: err = %v, want %s", err, tt.want.Code)
			}
			if _, err := bank.Receive(ctx, 10); !errors.Is(err, tt.want) {
				t.Errorf("Receive: err = %v, want %s", err, tt.want.Code)
			}
			if err := f.l.Intermediary("bank-a").Send(ctx, tt.as, []byte("hi")); !errors.Is(err, tt.want) {
				t.Errorf("Send to it: err = %v, want %s", err, tt.want.Code)
			}
		})
	}
}

type feedResult struct {
	events []Event
	next   uint64
	err    error
}

func (f *fixture) feedAsync(b *Intermediary, from uint64) <-chan feedResult {
	out := make(chan feedResult, 1)
	go func() {
		events, next, err := b.Feed(f.ctx, from, 10)
		out <- feedResult{events, next, err}
	}()
	return out
}

// readFeed reads a bank's feed from from up to the head.
func (f *fixture) readFeed(b *Intermediary, from uint64, limit int) []Event {
	f.t.Helper()
	var out []Event
	for head := f.l.Totals().Seq; from <= head; {
		page, next, err := b.Feed(f.ctx, from, limit)
		if err != nil {
			f.t.Fatalf("Feed(%d): %v", from, err)
		}
		out = append(out, page...)
		from = next
	}
	return out
}

// eventsConcerning lists the journal's events that touch bank or an
// account tagged with it, worked out from the public reads alone.
func (f *fixture) eventsConcerning(bank AccountID) []Event {
	f.t.Helper()
	all, err := f.l.Events(1, MaxPage)
	if err != nil {
		f.t.Fatal(err)
	}
	mine := func(id AccountID) bool {
		acct, err := f.l.Account(id)
		return err == nil && (id == bank || acct.Intermediary == bank)
	}
	var out []Event
	for _, e := range all {
		ids := []AccountID{e.Account}
		for _, tr := range e.Transfers {
			ids = append(ids, tr.From, tr.To)
		}
		if slices.ContainsFunc(ids, mine) {
			out = append(out, e)
		}
	}
	return out
}

// eventsSince is eventsConcerning for the records from from on, read in pages.
func (f *fixture) eventsSince(from uint64, bank AccountID) []Event {
	f.t.Helper()
	var out []Event
	mine := func(id AccountID) bool {
		acct, err := f.l.Account(id)
		return err == nil && (id == bank || acct.Intermediary == bank)
	}
	for head := f.l.Totals().Seq; from <= head; from += MaxPage {
		page, err := f.l.Events(from, MaxPage)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, e := range page {
			ids := []AccountID{e.Account}
			for _, tr := range e.Transfers {
				ids = append(ids, tr.From, tr.To)
			}
			if slices.ContainsFunc(ids, mine) {
				out = append(out, e)
			}
		}
	}
	return out
}

func seqs(events []Event) []uint64 {
	out := make([]uint64, len(events))
	for i, e := range events {
		out[i] = e.Seq
	}
	return out
}

// feedWaiting reports whether a feed waits for the next commit.
func (l *Ledger) feedWaiting() bool {
	l.durable.mu.Lock()
	defer l.durable.mu.Unlock()
	return l.durable.next.ch != nil
}

// waitFor polls cond, which the code under test has no way to signal.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestIntermediary_FeedFromMemoryAndJournalAgree reads the same records
// once from the journal (too old for the records kept in memory) and once
// from memory, and requires the same events.
func TestIntermediary_FeedFromMemoryAndJournalAgree(t *testing.T) {
	f := newFixture(t)
	a := f.l.Intermediary("bank-a")
	from := f.lastSeq + 1
	err := parallel(64, recentRecords+500, func(i int) error {
		if i%3 == 0 {
			_, err := a.Transfer(f.ctx, "pay-"+strconv.Itoa(i), "alice", "bob", 1)
			return err
		}
		_, err := f.l.Transfer(f.ctx, "noise-"+strconv.Itoa(i), "bob", "bank-b", 1)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, inMemory := f.l.feedRecent(1, from, from+10, MaxPage); inMemory {
		t.Fatal("the oldest records are still in memory; the test does not reach the journal")
	}
	head := f.l.Totals().Seq
	start := head - 2000
	fromJournal, _, err := f.l.feedJournal(1, start, head, MaxPage)
	if err != nil {
		t.Fatal(err)
	}
	fromMemory, _, inMemory := f.l.feedRecent(1, start, head, MaxPage)
	if !inMemory || len(fromMemory) == 0 || !reflect.DeepEqual(fromJournal, fromMemory) {
		t.Fatalf("memory (%v, %d events) and journal (%d events) disagree", inMemory, len(fromMemory), len(fromJournal))
	}
	if got, want := f.readFeed(a, from, MaxPage), f.eventsSince(from, "bank-a"); !reflect.DeepEqual(seqs(got), seqs(want)) {
		t.Errorf("feed across the journal and memory: %d events, want %d", len(got), len(want))
	}
}

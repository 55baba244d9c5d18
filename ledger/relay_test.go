package ledger

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestIntermediary_MessagesRoundTrip(t *testing.T) {
	f := newFixture(t)
	sent := time.Now()
	a, b := f.l.Intermediary("bank-a"), f.l.Intermediary("bank-b")
	body := []byte("request-to-pay 1")
	if err := a.Send(f.ctx, "bank-b", body); err != nil {
		t.Fatal(err)
	}
	body[0] = 'X' // the sender's buffer is its own again
	for i := 2; i <= 3; i++ {
		if err := a.Send(f.ctx, "bank-b", []byte("request-to-pay "+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(f.ctx, "bank-b", []byte("note to self")); err != nil {
		t.Fatalf("sending to itself: %v", err)
	}
	first := f.receive(b, 2)
	want := []Message{{From: "bank-a", Body: []byte("request-to-pay 1")}, {From: "bank-a", Body: []byte("request-to-pay 2")}}
	if !equalMessages(first, want, sent) {
		t.Errorf("first two = %v, want %v sent after %v", first, want, sent)
	}
	rest := f.receive(b, 10)
	want = []Message{{From: "bank-a", Body: []byte("request-to-pay 3")}, {From: "bank-b", Body: []byte("note to self")}}
	if !equalMessages(rest, want, sent) {
		t.Errorf("the rest = %v, want %v sent after %v", rest, want, sent)
	}
	if err := b.Send(f.ctx, "bank-a", nil); err != nil {
		t.Fatal(err)
	}
	if got := f.receive(a, 0); len(got) != 1 || got[0].From != "bank-b" || len(got[0].Body) != 0 {
		t.Errorf("bank-a received %v, want one empty note from bank-b", got)
	}
}

func TestIntermediary_ReceiveWaits(t *testing.T) {
	f := newFixture(t)
	a, b := f.l.Intermediary("bank-a"), f.l.Intermediary("bank-b")
	got := make(chan []Message, 1)
	go func() {
		msgs, err := b.Receive(f.ctx, 10)
		if err != nil {
			t.Error(err)
		}
		got <- msgs
	}()
	waitFor(t, "a receiver waiting", func() bool { return f.l.receiving("bank-b") })
	if err := a.Send(f.ctx, "bank-b", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if msgs := <-got; len(msgs) != 1 || string(msgs[0].Body) != "hello" {
		t.Errorf("woken with %v", msgs)
	}
	ctx, cancel := context.WithTimeout(f.ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := b.Receive(ctx, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Receive whose context ends: err = %v", err)
	}
}

func TestIntermediary_MailboxLimits(t *testing.T) {
	f := newFixture(t)
	a, b := f.l.Intermediary("bank-a"), f.l.Intermediary("bank-b")
	if err := a.Send(f.ctx, "bank-b", make([]byte, MaxMessageBytes+1)); !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("a body of %d bytes: err = %v", MaxMessageBytes+1, err)
	}
	for i := range MaxMailbox {
		if err := a.Send(f.ctx, "bank-b", []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := a.Send(f.ctx, "bank-b", []byte("one more")); !errors.Is(err, ErrMailboxFull) {
		t.Fatalf("a full mailbox: err = %v", err)
	}
	if err := a.Send(f.ctx, "bank-a", []byte("own mailbox")); err != nil {
		t.Errorf("another mailbox is not full: %v", err)
	}
	if got := f.receive(b, 1); string(got[0].Body) != "0" {
		t.Errorf("oldest first: got %q", got[0].Body)
	}
	if err := a.Send(f.ctx, "bank-b", []byte("room again")); err != nil {
		t.Errorf("after a receive: %v", err)
	}

	// Bodies count too: a mailbox holds MaxMailboxBytes of them.
	if got := f.receive(a, 0); len(got) != 1 || string(got[0].Body) != "own mailbox" {
		t.Fatalf("bank-a's mailbox held %v", got)
	}
	big := make([]byte, MaxMessageBytes)
	for i := range MaxMailboxBytes / MaxMessageBytes {
		if err := b.Send(f.ctx, "bank-a", big); err != nil {
			t.Fatalf("large message %d: %v", i, err)
		}
	}
	if err := b.Send(f.ctx, "bank-a", big); !errors.Is(err, ErrMailboxFull) {
		t.Errorf("a mailbox full of bytes: err = %v", err)
	}
}

func TestIntermediary_ReceiveEndsWhenLedgerCloses(t *testing.T) {
	f := newFixture(t)
	a, b := f.l.Intermediary("bank-a"), f.l.Intermediary("bank-b")
	got := make(chan error, 1)
	go func() {
		_, err := b.Receive(f.ctx, 10)
		got <- err
	}()
	waitFor(t, "a receiver waiting", func() bool { return f.l.receiving("bank-b") })
	if err := f.l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("waiting receiver at close: err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake a waiting receiver")
	}
	if err := a.Send(f.ctx, "bank-b", []byte("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Send on a closed ledger: err = %v", err)
	}
}

func (f *fixture) receive(b *Intermediary, max int) []Message {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 5*time.Second)
	defer cancel()
	msgs, err := b.Receive(ctx, max)
	if err != nil {
		f.t.Fatalf("%s receiving: %v", b.ID(), err)
	}
	return msgs
}

// equalMessages compares got with want, and checks that each message was
// stamped between sent and now.
func equalMessages(got, want []Message, sent time.Time) bool {
	if len(got) != len(want) {
		return false
	}
	now := time.Now()
	for i := range got {
		if got[i].From != want[i].From || !bytes.Equal(got[i].Body, want[i].Body) ||
			got[i].Time.Before(sent) || got[i].Time.After(now) {
			return false
		}
	}
	return true
}

// receiving reports whether a Receive waits on bank's mailbox.
func (l *Ledger) receiving(bank AccountID) bool {
	n, _, err := l.checkBank(bank)
	if err != nil {
		return false
	}
	l.relay.mu.Lock()
	defer l.relay.mu.Unlock()
	b := l.relay.boxes[n]
	return b != nil && b.arrived.ch != nil
}

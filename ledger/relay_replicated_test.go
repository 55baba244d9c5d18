package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// relayPair is a replicated pair with two open banks.
func pairWithBanks(t *testing.T) *pair {
	t.Helper()
	p := newPair(t)
	p.leader.Lead()
	ctx := context.Background()
	for _, id := range []ledger.AccountID{"bank-a", "bank-b"} {
		if _, err := p.leader.OpenAccount(ctx, "open-"+string(id), ledger.AccountSpec{ID: id, Kind: ledger.KindIntermediary}); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func receiveNow(t *testing.T, l *ledger.Ledger, bank ledger.AccountID, max int) []ledger.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	msgs, err := l.Intermediary(bank).Receive(ctx, max)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	if err != nil {
		t.Fatalf("%s receives: %v", bank, err)
	}
	return msgs
}

func bodies(msgs []ledger.Message) string {
	var b bytes.Buffer
	for _, m := range msgs {
		fmt.Fprintf(&b, "%s:%s ", m.From, m.Body)
	}
	return b.String()
}

// What a leader's relay took and what it still holds is the follower's
// too: after a failover the new leader delivers the rest, each once, with
// its sender and time.
func TestReplicatedRelay_MailboxesSurviveAFailover(t *testing.T) {
	p := pairWithBanks(t)
	ctx := context.Background()
	a := p.leader.Intermediary("bank-a")
	for i := 1; i <= 5; i++ {
		if err := a.Send(ctx, "bank-b", fmt.Appendf(nil, "rtp-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := bodies(receiveNow(t, p.leader, "bank-b", 2)); got != "bank-a:rtp-1 bank-a:rtp-2 " {
		t.Fatalf("the leader delivered %q", got)
	}
	if _, err := p.follower.Intermediary("bank-b").Receive(ctx, 10); !errors.Is(err, ledger.ErrNotLeader) {
		t.Fatalf("a follower's relay answered %v, want not_leader", err)
	}
	// The leader dies; the follower leads.
	p.leader.Follow()
	p.follower.Lead()
	got := receiveNow(t, p.follower, "bank-b", 10)
	if bodies(got) != "bank-a:rtp-3 bank-a:rtp-4 bank-a:rtp-5 " {
		t.Fatalf("the new leader delivered %q, want rtp-3 to rtp-5", bodies(got))
	}
	if got[0].Time.IsZero() || got[0].Time.After(time.Now()) {
		t.Errorf("a message's time %v is not the leader's", got[0].Time)
	}
	if more := receiveNow(t, p.follower, "bank-b", 10); len(more) != 0 {
		t.Errorf("delivered twice: %q", bodies(more))
	}
}

// A receipt whose entry is not known to be held still hands the messages
// over: had it committed unanswered, they would be gone from every
// mailbox. When it did not commit, the next leader delivers them again;
// when it did, not. Either way none is lost.
func TestReplicatedRelay_ReceiptInDoubtLosesNothing(t *testing.T) {
	for _, committed := range []bool{false, true} {
		t.Run(fmt.Sprintf("committed=%v", committed), func(t *testing.T) {
			p := pairWithBanks(t)
			ctx := context.Background()
			for _, m := range []string{"m1", "m2"} {
				if err := p.leader.Intermediary("bank-a").Send(ctx, "bank-b", []byte(m)); err != nil {
					t.Fatal(err)
				}
			}
			p.mu.Lock()
			p.fail, p.failAfterApply = errors.New("leadership lost"), committed
			p.mu.Unlock()
			if got := bodies(receiveNow(t, p.leader, "bank-b", 1)); got != "bank-a:m1 " {
				t.Fatalf("a receipt in doubt handed over %q, want m1", got)
			}
			p.mu.Lock()
			p.fail = nil
			p.mu.Unlock()
			p.leader.Follow()
			p.follower.Lead()
			want := "bank-a:m2 "
			if !committed {
				want = "bank-a:m1 bank-a:m2 "
			}
			if got := bodies(receiveNow(t, p.follower, "bank-b", 10)); got != want {
				t.Errorf("the new leader delivered %q, want %q", got, want)
			}
		})
	}
	// A send in doubt is the caller's to ask again.
	p := pairWithBanks(t)
	p.mu.Lock()
	p.fail = errors.New("leadership lost")
	p.mu.Unlock()
	if err := p.leader.Intermediary("bank-a").Send(context.Background(), "bank-b", []byte("late")); !errors.Is(err, ledger.ErrNotLeader) {
		t.Fatalf("a send in doubt answered %v, want not_leader", err)
	}
}

// A full mailbox refuses alike on every replica, and the refusal is a
// rule's, not a doubt.
func TestReplicatedRelay_FullMailboxRefusedAlike(t *testing.T) {
	p := pairWithBanks(t)
	ctx := context.Background()
	a := p.leader.Intermediary("bank-a")
	for i := range ledger.MaxMailbox {
		if err := a.Send(ctx, "bank-b", []byte{byte(i)}); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	err := a.Send(ctx, "bank-b", []byte("one too many"))
	if !errors.Is(err, ledger.ErrMailboxFull) || ledger.OutcomeOf(err) != ledger.Refused {
		t.Fatalf("the message after a full mailbox: %v, want mailbox_full, refused", err)
	}
	p.leader.Follow()
	p.follower.Lead()
	if got := receiveNow(t, p.follower, "bank-b", ledger.MaxReceive); len(got) != ledger.MaxReceive || got[0].Body[0] != 0 {
		t.Fatalf("the new leader delivered %d messages", len(got))
	}
	if err := p.follower.Intermediary("bank-a").Send(ctx, "bank-b", []byte("room again")); err != nil {
		t.Fatalf("after a receipt made room: %v", err)
	}
}

// A replica started again replays the group's entries into empty
// mailboxes and ends with the same ones, journal entries it already has
// skipped.
func TestReplicatedRelay_ReplayRebuildsTheMailboxes(t *testing.T) {
	p := pairWithBanks(t)
	ctx := context.Background()
	a := p.leader.Intermediary("bank-a")
	for i := 1; i <= 4; i++ {
		if err := a.Send(ctx, "bank-b", fmt.Appendf(nil, "rtp-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	receiveNow(t, p.leader, "bank-b", 3)
	if _, err := p.leader.Transfer(ctx, "after", "bank-a", "bank-b", 0); err == nil {
		t.Fatal("a zero transfer was taken")
	}
	dir := t.TempDir()
	var fresh *ledger.Ledger
	fresh, err := ledger.Open(dir, ledger.Options{Replicator: alone{&fresh}, GenesisTime: time.Unix(1_700_000_000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	entries := p.log()
	for round := range 2 { // twice: the second time as a restart's replay over the journal
		for i, e := range entries {
			if err := fresh.Apply(e); err != nil && !(round == 1 && errors.Is(err, ledger.ErrNotLeader)) {
				t.Fatalf("round %d, entry %d: %v", round, i, err)
			}
		}
		if round == 0 {
			fresh.Close()
			if fresh, err = ledger.Open(dir, ledger.Options{Replicator: alone{&fresh}, GenesisTime: time.Unix(1_700_000_000, 0)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	fresh.Lead()
	if got := bodies(receiveNow(t, fresh, "bank-b", 10)); got != "bank-a:rtp-4 " {
		t.Fatalf("the replayed replica delivered %q, want rtp-4 alone", got)
	}
}

// A relay entry cut short or of an unknown kind is refused as corrupt.
func TestReplicatedRelay_BadEntriesRefused(t *testing.T) {
	p := pairWithBanks(t)
	for _, e := range [][]byte{{'R'}, {'R', 9, 0, 0, 0, 1}, {'R', 1, 0, 0, 0, 1, 0, 5, 'b'}, {'R', 2, 0, 0, 0, 1, 0}} {
		if err := p.follower.Apply(e); !errors.Is(err, ledger.ErrCorrupt) {
			t.Errorf("entry %v: %v, want corrupt", e, err)
		}
	}
}

// The relay's part of a snapshot carries every mailbox, what each has
// given out and its messages; restored into another replica, it delivers
// the same, and a copy cut short anywhere or with a mailbox over its
// bounds is refused with the relay unchanged.
func TestRelaySnapshot_RoundTripAndDamage(t *testing.T) {
	p := pairWithBanks(t)
	ctx := context.Background()
	for i := 1; i <= 4; i++ {
		if err := p.leader.Intermediary("bank-a").Send(ctx, "bank-b", fmt.Appendf(nil, "rtp-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.leader.Intermediary("bank-b").Send(ctx, "bank-a", nil); err != nil {
		t.Fatal(err)
	}
	receiveNow(t, p.leader, "bank-b", 1)
	var buf bytes.Buffer
	if _, err := p.leader.SnapshotRelay().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap := buf.Bytes()

	other := pairWithBanks(t)
	if err := other.leader.Intermediary("bank-a").Send(ctx, "bank-b", []byte("only here")); err != nil {
		t.Fatal(err)
	}
	for cut := range len(snap) {
		if _, err := other.leader.StageRelay(bytes.NewReader(snap[:cut])); err == nil {
			t.Fatalf("a copy cut at %d of %d bytes was staged", cut, len(snap))
		}
	}
	if _, err := other.leader.StageRelay(bytes.NewReader(append(bytes.Clone(snap), 0))); err == nil {
		t.Error("a copy with a byte after it was staged")
	}
	staged, err := other.leader.StageRelay(bytes.NewReader(snap))
	if err != nil {
		t.Fatal(err)
	}
	if err := staged.Apply(); err != nil {
		t.Fatal(err)
	}
	if got := bodies(receiveNow(t, other.leader, "bank-b", 10)); got != "bank-a:rtp-2 bank-a:rtp-3 bank-a:rtp-4 " {
		t.Errorf("the restored relay delivered %q to bank-b", got)
	}
	if got := receiveNow(t, other.leader, "bank-a", 10); len(got) != 1 || got[0].From != "bank-b" || len(got[0].Body) != 0 {
		t.Errorf("the restored relay delivered %v to bank-a", got)
	}
	// Counting on from where the snapshot's mailbox left off: a receipt
	// the log replays after the snapshot takes the right messages.
	if err := other.leader.Intermediary("bank-a").Send(ctx, "bank-b", []byte("after")); err != nil {
		t.Fatal(err)
	}
	if got := bodies(receiveNow(t, other.leader, "bank-b", 10)); got != "bank-a:after " {
		t.Errorf("after the restore bank-b got %q", got)
	}
}

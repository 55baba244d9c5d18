package ledger_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// ApplyEntries must decide every entry exactly as Apply does one at a
// time, whatever the grouping: Raft hands a follower that caught up, or
// entries committed together, to it in one call. The stream mixes a
// leader's real entries (batches, confirmations of refusals, key
// registrations) with what a log can also hold: entries replayed after a
// restart, entries of an earlier leadership that no longer extend the
// journal, and damaged ones.
func TestApplyEntries_DecidesAsAppliedOneByOne(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			stream := hostileStream(t, rng)
			one := openFollower(t)
			grouped := openFollower(t)
			var want []error
			for _, e := range stream {
				want = append(want, one.Apply(e))
			}
			var got []error
			for i := 0; i < len(stream); {
				n := 1 + rng.IntN(12)
				n = min(n, len(stream)-i)
				got = append(got, grouped.ApplyEntries(stream[i:i+n])...)
				i += n
			}
			applied := 0
			for i := range stream {
				if fmt.Sprint(want[i]) != fmt.Sprint(got[i]) {
					t.Errorf("entry %d of %d: one by one %v, grouped %v", i, len(stream), want[i], got[i])
				}
				if want[i] == nil {
					applied++
				}
			}
			if applied < len(stream)/3 {
				t.Fatalf("only %d of %d entries applied: the stream tests too little", applied, len(stream))
			}
			os, oh := one.Head()
			gs, gh := grouped.Head()
			if os != gs || oh != gh {
				t.Fatalf("heads differ: one by one %d %x, grouped %d %x", os, oh[:4], gs, gh[:4])
			}
			if one.Totals() != grouped.Totals() {
				t.Errorf("totals differ: one by one %+v, grouped %+v", one.Totals(), grouped.Totals())
			}
			for _, id := range []ledger.AccountID{"bank-0", "bank-1", "bank-2", "bank-3"} {
				a, _ := one.Balance(id)
				b, _ := grouped.Balance(id)
				if a != b {
					t.Errorf("%s holds %d one by one, %d grouped", id, a, b)
				}
				ka, _ := one.IntermediaryKey(id)
				kb, _ := grouped.IntermediaryKey(id)
				if !ka.Equal(kb) {
					t.Errorf("%s's registered key differs", id)
				}
			}
			if running, counted := grouped.Recount(); running != counted {
				t.Errorf("grouped follower's running totals %+v, recounted %+v", running, counted)
			}
		})
	}
}

func openFollower(t *testing.T) *ledger.Ledger {
	t.Helper()
	var l *ledger.Ledger
	var err error
	if l, err = ledger.Open(t.TempDir(), ledger.Options{Replicator: alone{&l}, GenesisTime: time.Unix(1_700_000_000, 0)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// hostileStream runs random operations at a leader and returns its
// entries in order, with replays, stale and damaged entries mixed in.
func hostileStream(t *testing.T, rng *rand.Rand) [][]byte {
	t.Helper()
	p := newPair(t)
	p.leader.Lead()
	ctx := context.Background()
	banks := []ledger.AccountID{"bank-0", "bank-1", "bank-2", "bank-3"}
	for i, id := range banks {
		if _, err := p.leader.OpenAccount(ctx, "open-"+string(id), ledger.AccountSpec{ID: id, Kind: ledger.KindIntermediary}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.leader.Issue(ctx, "issue-"+string(id), id, int64(1_000*(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	for n := range 60 {
		from, to := banks[rng.IntN(len(banks))], banks[rng.IntN(len(banks))]
		switch rng.IntN(6) {
		case 0: // a key registration, between batches
			key := make([]byte, ed25519.PublicKeySize)
			for i := range key {
				key[i] = byte(rng.Uint32())
			}
			if err := p.leader.RegisterKey(ctx, from, key); err != nil {
				t.Fatal(err)
			}
		case 1: // refused for want of funds: a confirmation with no records
			p.leader.Transfer(ctx, fmt.Sprintf("big-%d", n), from, to, 1_000_000)
		default: // several callers at once make batches of several records
			done := make(chan struct{})
			k := 1 + rng.IntN(5)
			for j := range k {
				amount := int64(1 + rng.IntN(50))
				go func() {
					p.leader.Transfer(ctx, fmt.Sprintf("pay-%d-%d", n, j), from, to, amount)
					done <- struct{}{}
				}()
			}
			for range k {
				<-done
			}
		}
	}
	real := p.log()
	var stream [][]byte
	for i, e := range real {
		for range rng.IntN(3) {
			switch rng.IntN(5) {
			case 0, 1: // an earlier entry replayed
				stream = append(stream, real[rng.IntN(i+1)])
			case 2: // a damaged copy of this or the next entry
				j := min(i+rng.IntN(2), len(real)-1)
				d := append([]byte(nil), real[j]...)
				d[rng.IntN(len(d))] ^= byte(1 + rng.IntN(255))
				stream = append(stream, d)
			case 3: // cut short
				stream = append(stream, real[i][:rng.IntN(len(real[i]))])
			case 4: // an entry of an unknown kind
				stream = append(stream, []byte{0x7f, 1, 2, 3})
			}
		}
		stream = append(stream, e)
	}
	return stream
}

// When the write of a group's records fails, every entry decided after
// them fails as it would have one by one: a confirmation or a refusal
// rests on the journal before it, which this replica could not write.
func TestApplyEntries_AfterAFailedWriteNothingIsConfirmed(t *testing.T) {
	p := pairWithBanks(t)
	ctx := context.Background()
	base := len(p.log())
	if _, err := p.leader.Issue(ctx, "issue-a", "bank-a", 100); err != nil {
		t.Fatal(err)
	}
	// Refused for want of funds: an entry that confirms the state.
	if _, err := p.leader.Transfer(ctx, "too-much", "bank-a", "bank-b", 1_000_000); err == nil {
		t.Fatal("a transfer beyond the balance was made")
	}
	all := p.log()
	tail := append(all[base:], all[0]) // and a replayed, stale entry
	if len(tail) < 3 {
		t.Fatalf("%d entries after the accounts were opened, want a batch and a confirmation", len(tail)-1)
	}
	broken := func() *ledger.Ledger {
		l := openFollower(t)
		for _, e := range all[:base] {
			if err := l.Apply(e); err != nil {
				t.Fatal(err)
			}
		}
		if err := ledger.FailStorageForTest(l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	one := broken()
	grouped := broken().ApplyEntries(tail)
	for i, e := range tail {
		want := one.Apply(e)
		if want == nil {
			t.Fatalf("entry %d applied on a replica whose storage failed", i)
		}
		if fmt.Sprint(grouped[i]) != fmt.Sprint(want) {
			t.Errorf("entry %d: one by one %v, grouped %v", i, want, grouped[i])
		}
	}
}

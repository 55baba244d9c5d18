package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
)

// clashingOpIndex is an index whose tag is the key's first 8 bytes, so a
// test makes tags clash by copying them (the seeded tag of the ledger's
// index makes that as unlikely as a clash of 64-bit hashes).
func clashingOpIndex() *opIndex {
	return &opIndex{plainTags: true}
}

// randomKeys returns n keys, of which about one in clashEvery shares its
// first 8 bytes (clashingOpIndex's tag) with an earlier key, and a few are
// repeats of earlier keys: the cases a SHA-256 makes rare but not
// impossible, and the ones an attacker would aim at.
func randomKeys(rng *rand.Rand, n, clashEvery int) []opKey {
	keys := make([]opKey, n)
	for i := range keys {
		binary.LittleEndian.PutUint64(keys[i][:8], rng.Uint64())
		binary.LittleEndian.PutUint64(keys[i][8:], rng.Uint64())
		if i > 0 && clashEvery > 0 && rng.IntN(clashEvery) == 0 {
			copy(keys[i][:8], keys[rng.IntN(i)][:8])
		}
		if i > 0 && rng.IntN(50) == 0 {
			keys[i] = keys[rng.IntN(i)]
		}
	}
	return keys
}

// TestOpIndex_AgreesWithAMap adds keys with clashing tags and repeats, in
// shards that grow many times over, and checks every answer against a
// map: each key found with its own entry, no repeat taken, no key that
// was never added found, and the entries listed in journal order.
func TestOpIndex_AgreesWithAMap(t *testing.T) {
	for _, tc := range []struct {
		n, clashEvery int
		seeded        bool
	}{{1000, 3, false}, {100_000, 40, false}, {3 * opChunk, 0, true}} {
		t.Run(fmt.Sprintf("n=%d,clashEvery=%d,seeded=%v", tc.n, tc.clashEvery, tc.seeded), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tc.n), 5))
			x, model := clashingOpIndex(), map[opKey]opRef{}
			if tc.seeded {
				x = newOpIndex()
			}
			var order []opKey
			for _, k := range randomKeys(rng, tc.n, tc.clashEvery) {
				ref := opRef{seq: x.len() + 1, time: rng.Int64(), digest: rng.Uint64()}
				_, held := model[k]
				if took := x.add(&k, ref); took == held {
					t.Fatalf("add of key %x at %d said %v; it was held already: %v", k, ref.seq, took, held)
				}
				if !held {
					model[k], order = ref, append(order, k)
				}
			}
			checkOpIndex(t, x, model, order)
			for _, k := range randomKeys(rng, 1000, 2) {
				if _, held := model[k]; held {
					continue
				}
				if ref, ok := x.get(&k); ok || x.has(&k) {
					t.Fatalf("key %x never added found at %d", k, ref.seq)
				}
			}
			if tc.clashEvery > 0 && len(x.clash) == 0 {
				t.Fatal("no key clashed: the test does not reach the clash map")
			}
		})
	}
}

func checkOpIndex(t *testing.T, x *opIndex, model map[opKey]opRef, order []opKey) {
	t.Helper()
	if x.len() != uint64(len(model)) {
		t.Fatalf("index holds %d entries, want %d", x.len(), len(model))
	}
	for k, want := range model {
		if got, ok := x.get(&k); !ok || got != want {
			t.Fatalf("get(%x) = %+v, %v; want %+v", k, got, ok, want)
		}
	}
	i := 0
	for e := range x.all() {
		if e.key != order[i] || e.ref != model[order[i]] {
			t.Fatalf("entry %d listed as %x %+v, want %x %+v", i, e.key, e.ref, order[i], model[order[i]])
		}
		i++
	}
	if i != len(order) {
		t.Fatalf("listed %d entries, want %d", i, len(order))
	}
}

// TestOpIndex_TakesOnlyTheNextSequence: an entry out of journal order
// would make sequences and places disagree, and every answer after it
// wrong; the index refuses it and stays as it was.
func TestOpIndex_TakesOnlyTheNextSequence(t *testing.T) {
	x := newOpIndex()
	keys := randomKeys(rand.New(rand.NewPCG(1, 1)), 3, 0)
	if !x.add(&keys[0], opRef{seq: 1}) {
		t.Fatal("first entry refused")
	}
	for _, seq := range []uint64{0, 1, 3, 1 << 40} {
		if x.add(&keys[1], opRef{seq: seq}) {
			t.Fatalf("entry at %d taken after 1", seq)
		}
	}
	if x.len() != 1 || x.has(&keys[1]) {
		t.Fatalf("a refused entry changed the index: %d entries", x.len())
	}
	if !x.add(&keys[1], opRef{seq: 2}) || x.add(&keys[0], opRef{seq: 3}) {
		t.Fatal("next entry refused, or a repeat taken")
	}
}

// TestOpIndex_KeyOnAHeldKeysTagIsNotHeld: a new operation whose key's tag
// a committed one holds must not be answered with that one's receipt,
// and must be taken and then found under its own entry.
func TestOpIndex_KeyOnAHeldKeysTagIsNotHeld(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	x := clashingOpIndex()
	held := randomKeys(rng, 2000, 0)
	var keys []opKey
	for _, k := range held {
		if x.add(&k, opRef{seq: x.len() + 1}) {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		q := k
		binary.LittleEndian.PutUint64(q[8:], rng.Uint64())
		if ref, ok := x.get(&q); ok || x.has(&q) {
			t.Fatalf("key %x, never added, answered with the entry at %d of %x, which shares its tag", q, ref.seq, k)
		}
		if !x.add(&q, opRef{seq: x.len() + 1, digest: 7}) {
			t.Fatalf("key %x refused: only its tag is held", q)
		}
		if ref, ok := x.get(&q); !ok || ref.seq != x.len() || ref.digest != 7 {
			t.Fatalf("key %x added at %d found as %+v, %v", q, x.len(), ref, ok)
		}
		if ref, ok := x.get(&k); !ok || ref.digest == 7 {
			t.Fatalf("held key %x lost or overwritten: %+v, %v", k, ref, ok)
		}
	}
}

// TestOpIndex_ChosenIdsDoNotCrowdOneShard: a caller chooses its operation
// ids, so trying a few thousand ids each it can give their keys whatever
// first bytes it likes. Keys that agree in their first byte and in the
// low 12 bits of their first 8 bytes, as such a caller would aim at the
// shard and slots of an unseeded tag, must still spread over every
// shard, with no long run of occupied slots to walk.
func TestOpIndex_ChosenIdsDoNotCrowdOneShard(t *testing.T) {
	const n = 50_000
	rng := rand.New(rand.NewPCG(11, 11))
	x := newOpIndex()
	for i := range n {
		var k opKey
		binary.LittleEndian.PutUint64(k[:8], rng.Uint64()&^(0xff<<56|0xfff)|0x2a<<56|0x123)
		binary.LittleEndian.PutUint64(k[8:], rng.Uint64())
		if !x.add(&k, opRef{seq: uint64(i + 1)}) {
			t.Fatalf("key %d refused", i)
		}
	}
	fullest, longest := 0, 0
	for i := range x.shards {
		sh := &x.shards[i]
		fullest = max(fullest, sh.n)
		run := 0
		for j := range 2 * len(sh.slots) { // twice round, for a run that wraps
			if sh.slots[j%len(sh.slots)].seq == 0 {
				run = 0
				continue
			}
			run++
			longest = max(longest, min(run, len(sh.slots)))
		}
	}
	if mean := n / opShards; fullest > 2*mean {
		t.Errorf("fullest shard holds %d keys, the mean %d: chosen ids crowd it", fullest, mean)
	}
	if longest > 256 {
		t.Errorf("a run of %d occupied slots: chosen ids make look-ups walk it", longest)
	}
}

// TestOpIndex_CloneIsIndependent: the sequencer's index and the read
// view's are clones that go on adding apart, in two goroutines; neither
// may see, or overwrite, what the other adds, whether the clone was made
// mid-chunk or on a chunk's edge. Run with -race.
func TestOpIndex_CloneIsIndependent(t *testing.T) {
	for _, at := range []int{0, 5, opChunk - 1, opChunk, opChunk + 7} {
		t.Run(fmt.Sprintf("at=%d", at), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(at), 9))
			keys := randomKeys(rng, at+2*opChunk+3000, 30)
			base, model := clashingOpIndex(), map[opKey]opRef{}
			var order []opKey
			var refused atomic.Int64
			add := func(x *opIndex, m map[opKey]opRef, o *[]opKey, k opKey, salt uint64) {
				ref := opRef{seq: x.len() + 1, time: int64(salt), digest: salt ^ x.len()}
				if _, held := m[k]; held {
					return
				}
				if !x.add(&k, ref) {
					refused.Add(1) // as when one copy sees the other's entries
					return
				}
				m[k], *o = ref, append(*o, k)
			}
			for _, k := range keys[:at] {
				add(base, model, &order, k, 1)
			}
			c := base.clone()
			cModel, cOrder := maps.Clone(model), append([]opKey(nil), order...)
			rest := keys[at:]
			done := make(chan struct{})
			go func() {
				defer close(done)
				// The clone adds the same keys in another order, with other
				// details, so a write through shared memory shows.
				for i := len(rest) - 1; i >= 0; i-- {
					add(c, cModel, &cOrder, rest[i], 2)
				}
			}()
			for _, k := range rest {
				add(base, model, &order, k, 1)
			}
			<-done
			if n := refused.Load(); n > 0 {
				t.Fatalf("%d keys neither copy held were refused", n)
			}
			checkOpIndex(t, base, model, order)
			checkOpIndex(t, c, cModel, cOrder)
		})
	}
}

// BenchmarkOpIndex measures adding the keys of entries operations, each
// looked up first as the read view does, to the index and, in the same
// run, to a Go map of whole entries as the ledger kept before.
func BenchmarkOpIndex(b *testing.B) {
	for _, n := range []int{100_000, 4_000_000} {
		keys := randomKeys(rand.New(rand.NewPCG(7, 7)), n, 0)
		b.Run(fmt.Sprintf("entries=%d/index", n), func(b *testing.B) {
			var x *opIndex
			for b.Loop() {
				x = newOpIndex()
				for i := range keys {
					if !x.has(&keys[i]) {
						x.add(&keys[i], opRef{seq: x.len() + 1})
					}
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "inserts/s")
			b.ReportMetric(heapPerEntry(&x, n), "bytes/entry")
			b.ReportMetric(0, "ns/op")
		})
		b.Run(fmt.Sprintf("entries=%d/map", n), func(b *testing.B) {
			var m map[opKey]opRef
			for b.Loop() {
				m = make(map[opKey]opRef)
				for i, k := range keys {
					if _, dup := m[k]; !dup {
						m[k] = opRef{seq: uint64(i + 1)}
					}
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "inserts/s")
			b.ReportMetric(heapPerEntry(&m, n), "bytes/entry")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// opsEditedOutOfOrder returns copies of a checkpoint's id-index chunk
// edited as a faulty writer or a hand with a hex editor might: two
// entries swapped, one entry repeated in another's place, the first one
// dropped, one entry's sequence moved on by one, and one entry's key
// that of the entry before it.
func opsEditedOutOfOrder(tb testing.TB, ops []byte) map[string][]byte {
	tb.Helper()
	if len(ops) < 3*opEntryLen {
		tb.Fatalf("seed id index holds %d bytes, too few to edit", len(ops))
	}
	entry := func(b []byte, i int) []byte { return b[i*opEntryLen : (i+1)*opEntryLen] }
	swapped, repeated, shifted, sameKey := slices.Clone(ops), slices.Clone(ops), slices.Clone(ops), slices.Clone(ops)
	copy(entry(sameKey, 2)[:16], entry(sameKey, 1)[:16])
	a, b := slices.Clone(entry(swapped, 1)), slices.Clone(entry(swapped, 2))
	copy(entry(swapped, 1), b)
	copy(entry(swapped, 2), a)
	copy(entry(repeated, 2), entry(repeated, 1))
	binary.BigEndian.PutUint64(entry(shifted, 2)[16:], binary.BigEndian.Uint64(entry(shifted, 2)[16:])+1)
	return map[string][]byte{"swapped": swapped, "repeated": repeated, "first dropped": ops[opEntryLen:], "sequence moved": shifted,
		"key repeated at its own sequence": sameKey}
}

// TestLoadCheckpoint_RefusesAnIndexOutOfJournalOrder: the index finds an
// entry's details by its sequence, so a checkpoint whose entries are not
// one for each record in journal order would answer a retry with another
// operation's receipt. With its counts and checksums made to match, such
// a checkpoint is still refused as corrupt (Open then replays the
// journal), not loaded and not a crash.
func TestLoadCheckpoint_RefusesAnIndexOutOfJournalOrder(t *testing.T) {
	cp := fuzzSeedJournal(t).cp
	c := fuzzCheckpointer(t)
	fuzzStoreCheckpoint(t, c, fuzzFixSums(cp.meta, cp.accounts, cp.ops), cp.accounts, cp.ops)
	if err := fuzzLoadAndUse(c); err != nil {
		t.Fatalf("the seed checkpoint itself does not load: %v", err)
	}
	for name, ops := range opsEditedOutOfOrder(t, cp.ops) {
		fuzzStoreCheckpoint(t, c, fuzzFixSums(cp.meta, cp.accounts, ops), cp.accounts, ops)
		if err := fuzzLoadAndUse(c); !errors.Is(err, ErrCorrupt) {
			t.Errorf("id index with an entry %s: load gave %v, want %s", name, err, ErrCorrupt.Code)
		}
	}
}

// heapPerEntry is the live heap *v holds, per entry: measured by
// dropping it between two collections.
func heapPerEntry[T any](v *T, n int) float64 {
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	var none T
	*v = none
	runtime.GC()
	runtime.ReadMemStats(&without)
	return float64(int64(with.HeapAlloc)-int64(without.HeapAlloc)) / float64(n)
}

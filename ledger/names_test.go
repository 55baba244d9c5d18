package ledger

import (
	"strconv"
	"testing"
)

func TestNames_LookupAndClash(t *testing.T) {
	x := newNames()
	for _, id := range []AccountID{"issuance", "bank-a", "alice"} {
		x.add(id)
	}
	// Pretend "bob" hashes like "alice": its number must come from the clash map.
	x.index[x.hash("bob")] = 2
	if n := x.add("bob"); n != 3 {
		t.Fatalf("bob numbered %d, want 3", n)
	}
	for want, id := range []AccountID{"issuance", "bank-a", "alice", "bob"} {
		n, ok := x.lookup(id)
		if !ok || n != uint32(want) || x.id(n) != id {
			t.Errorf("lookup(%s) = %d, %v; want %d", id, n, ok, want)
		}
	}
	if _, ok := x.lookup("carol"); ok {
		t.Error("found an id never added")
	}
	c := x.clone()
	c.add("carol")
	if _, ok := x.lookup("carol"); ok || x.count() != 4 {
		t.Error("a clone shares its additions with the original")
	}
}

// With 32 bits of hash as the key, a few hundred thousand ids share keys
// (about 18 pairs in 400,000): every id must still be found under its own
// number, and no id never added may be found.
func TestNames_SharedHashBitsAtScale(t *testing.T) {
	const n = 400_000
	x := newNames()
	id := func(i int) AccountID { return AccountID("w-" + strconv.Itoa(i*7919)) }
	for i := range n {
		if got := x.add(id(i)); got != uint32(i) {
			t.Fatalf("id %d numbered %d", i, got)
		}
	}
	if len(x.clash) == 0 {
		t.Fatal("no two of 400,000 ids shared 32 bits of hash; the clash path went untested")
	}
	c := x.clone()
	for _, y := range []*names{&x, &c} {
		for i := range n {
			got, ok := y.lookup(id(i))
			if !ok || got != uint32(i) {
				t.Fatalf("lookup(%s) = %d, %v; want %d", id(i), got, ok, i)
			}
			if _, ok := y.lookup(id(i) + "x"); ok {
				t.Fatalf("found %sx, never added", id(i))
			}
		}
	}
	t.Logf("%d of %d ids in the clash map", len(x.clash), n)
}

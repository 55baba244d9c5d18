package ledger

import (
	"hash/maphash"
	"testing"
)

func TestNames_LookupAndClash(t *testing.T) {
	x := newNames()
	for _, id := range []AccountID{"issuance", "bank-a", "alice"} {
		x.add(id)
	}
	// Pretend "bob" hashes like "alice": its number must come from the clash map.
	x.index[maphash.String(x.seed, "bob")] = 2
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

package ledger

import (
	"bytes"
	"hash/maphash"
	"maps"
	"slices"
)

// names maps account ids to account numbers and back without holding a
// pointer per account: ids sit end to end in one byte arena and the index
// is keyed by a hash of the id. With a million accounts the garbage
// collector then scans a few large objects instead of a million small
// strings, which keeps its pauses out of commit latency.
//
// The index keys on 32 bits of the hash, which halves its slots against a
// 64-bit key; the hundred or so ids of a million that share 32 bits with
// an earlier one go to the clash map.
type names struct {
	arena []byte
	ends  []uint32          // ends[n] is where account n's id ends in arena
	index map[uint32]uint32 // hash of id -> number, for the first id with that hash
	clash map[string]uint32 // ids whose hash an earlier id already took
	seed  maphash.Seed

	// ahead, on the read view, is the sequencer's table as of the batch
	// being applied: add takes a new id's bytes from it instead of copying
	// them, so the ledger's two states keep one arena between them.
	ahead nameBytes
}

// nameBytes is a table's arena and ends without its index.
type nameBytes struct {
	arena []byte
	ends  []uint32
}

func newNames() names {
	return names{index: make(map[uint32]uint32), seed: maphash.MakeSeed()}
}

func (x *names) count() int { return len(x.ends) }

func (x *names) bytes(n uint32) []byte {
	start := uint32(0)
	if n > 0 {
		start = x.ends[n-1]
	}
	return x.arena[start:x.ends[n]]
}

// id returns account n's id (a copy, safe to keep).
func (x *names) id(n uint32) AccountID { return AccountID(x.bytes(n)) }

func (x *names) hash(id AccountID) uint32 {
	return uint32(maphash.String(x.seed, string(id)))
}

func (x *names) lookup(id AccountID) (uint32, bool) {
	n, ok := x.index[x.hash(id)]
	if ok && string(x.bytes(n)) == string(id) {
		return n, true
	}
	n, ok = x.clash[string(id)]
	return n, ok
}

// add gives id the next number. The caller has checked it is new.
func (x *names) add(id AccountID) uint32 {
	n := uint32(len(x.ends))
	if x.sharesWithAhead(n, id) {
		// Capacity cut to length: a later append here copies rather
		// than writing where ahead's table goes on growing.
		end := x.ahead.ends[n]
		x.ends = x.ahead.ends[: n+1 : n+1]
		x.arena = x.ahead.arena[:end:end]
	} else {
		x.arena = append(x.arena, id...)
		x.ends = append(x.ends, uint32(len(x.arena)))
	}
	h := x.hash(id)
	if _, taken := x.index[h]; !taken {
		x.index[h] = n
		return n
	}
	if x.clash == nil {
		x.clash = make(map[string]uint32)
	}
	x.clash[string(id)] = n
	return n
}

// sharesWithAhead says whether ahead holds id as number n and, before it,
// the ids this table holds. When this table already reads ahead's memory
// that is so; otherwise its bytes are compared once, after which it does.
func (x *names) sharesWithAhead(n uint32, id AccountID) bool {
	a := &x.ahead
	if int(n) >= len(a.ends) {
		return false
	}
	start := uint32(0)
	if n > 0 {
		start = a.ends[n-1]
	}
	if string(a.arena[start:a.ends[n]]) != string(id) {
		return false
	}
	if n == 0 || len(x.arena) > 0 && len(a.arena) > 0 && &x.arena[0] == &a.arena[0] && &x.ends[0] == &a.ends[0] {
		return true
	}
	return slices.Equal(x.ends, a.ends[:n]) && bytes.Equal(x.arena, a.arena[:start])
}

// shared returns the table's bytes for a later copy's ahead.
func (x *names) shared() nameBytes {
	return nameBytes{arena: x.arena, ends: x.ends}
}

// frozen shares the arena and ends as they are now, for reading by id
// number only (no index) while later ids are added beside them.
func (x *names) frozen() names {
	return names{arena: x.arena[:len(x.arena):len(x.arena)], ends: x.ends[:len(x.ends):len(x.ends)]}
}

func (x *names) clone() names {
	return names{
		arena: bytes.Clone(x.arena),
		ends:  append([]uint32(nil), x.ends...),
		index: maps.Clone(x.index),
		clash: maps.Clone(x.clash),
		seed:  x.seed,
	}
}

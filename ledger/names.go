package ledger

import (
	"bytes"
	"hash/maphash"
	"maps"
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
	x.arena = append(x.arena, id...)
	x.ends = append(x.ends, uint32(len(x.arena)))
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

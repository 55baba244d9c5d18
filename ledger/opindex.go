package ledger

import (
	"encoding/binary"
	"hash/maphash"
	"iter"
	"maps"
)

// opIndex finds a committed operation by the key of its id, so a retry
// gets its first answer. Every record is one operation, so the index
// keeps its entries in journal order, the one at sequence s at s-1, and
// its hash table holds only a 64-bit tag of each key with the sequence:
// 16 bytes a slot, looked up in a few contiguous bytes. Every replica's
// read view inserts every record's key, and at millions of entries a Go
// map of whole entries took more than twice as long to insert into
// (BenchmarkOpIndex).
//
// A slot's tag is a hash of the key under a seed made at start: a caller
// chooses its operation ids, and so, with a few hundred tries each, the
// first bytes of their keys; it cannot choose a seeded hash, so it cannot
// crowd its ids into one shard or one run of slots and make every look-up
// there walk them. The few keys whose tag an earlier key took go to a
// small map of their own; every answer compares the whole key.
type opIndex struct {
	chunks [][]opDetail // entries in journal order, opChunk to a chunk
	n      uint64       // entries in all
	shards [opShards]opShard
	clash  map[opKey]uint64 // keys whose tag an earlier key holds a slot for
	// plainTags makes a key's tag its first 8 bytes, so that a test can
	// make tags clash; the ledger's indexes hash them with opSeed.
	plainTags bool
}

// opDetail is what an entry keeps beside its sequence, which is its place.
type opDetail struct {
	key    opKey
	time   int64
	digest uint64
}

// opSlot is one slot of a shard's table: seq 0 marks it empty.
type opSlot struct {
	tag, seq uint64
}

// opShard is one open-addressing table, probed linearly. Shards grow one
// at a time, so a doubling moves a 256th of the slots: at a hundred
// million operations a few milliseconds, not the seconds that doubling
// one table would hold the sequencer up.
type opShard struct {
	slots []opSlot // a power of two long
	n     int
}

const (
	opShards      = 256
	opShardBits   = 8
	opChunk       = 1 << 15 // entries to a chunk: 1 MiB
	opMinSlots    = 16
	opMaxLoadNum  = 3 // a shard doubles past three quarters full
	opMaxLoadDen  = 4
	opTagShardOff = 64 - opShardBits
)

func newOpIndex() *opIndex { return &opIndex{} }

var opSeed = maphash.MakeSeed()

func (x *opIndex) tagOf(k *opKey) uint64 {
	if x.plainTags {
		return binary.LittleEndian.Uint64(k[:8])
	}
	return maphash.Bytes(opSeed, k[:])
}

// len is how many operations the index holds: the sequence of the last.
func (x *opIndex) len() uint64 { return x.n }

func (x *opIndex) detail(seq uint64) *opDetail {
	i := seq - 1
	return &x.chunks[i/opChunk][i%opChunk]
}

// get returns the operation whose id has key k.
func (x *opIndex) get(k *opKey) (opRef, bool) {
	seq := x.find(k)
	if seq == 0 {
		return opRef{}, false
	}
	d := x.detail(seq)
	return opRef{seq: seq, time: d.time, digest: d.digest}, true
}

// has says whether the index holds k.
func (x *opIndex) has(k *opKey) bool { return x.find(k) != 0 }

// find returns the sequence of k's operation, or 0.
func (x *opIndex) find(k *opKey) uint64 {
	tag := x.tagOf(k)
	s := x.shards[tag>>opTagShardOff].probe(tag)
	switch {
	case s == nil || s.seq == 0:
		return 0
	case x.detail(s.seq).key == *k:
		return s.seq
	}
	// A key whose tag another key holds is in the clash map or nowhere.
	return x.clash[*k]
}

// add appends the operation at sequence x.len()+1; it says false, and
// changes nothing, when k is held already or seq is not the next.
func (x *opIndex) add(k *opKey, ref opRef) bool {
	if ref.seq != x.n+1 {
		return false
	}
	tag := x.tagOf(k)
	sh := &x.shards[tag>>opTagShardOff]
	if (sh.n+1)*opMaxLoadDen > len(sh.slots)*opMaxLoadNum {
		x.grow(sh)
	}
	switch s := sh.probe(tag); {
	case s.seq == 0:
		*s = opSlot{tag: tag, seq: ref.seq}
		sh.n++
	case x.detail(s.seq).key == *k:
		return false
	default:
		if _, dup := x.clash[*k]; dup {
			return false
		}
		if x.clash == nil {
			x.clash = make(map[opKey]uint64)
		}
		x.clash[*k] = ref.seq
	}
	x.appendDetail(k, ref)
	return true
}

// probe returns the slot that holds tag, or the empty slot where it would
// go: each tag has one slot at most. It returns nil for a shard with none.
func (sh *opShard) probe(tag uint64) *opSlot {
	if len(sh.slots) == 0 {
		return nil
	}
	mask := uint64(len(sh.slots) - 1)
	i := tag & mask
	for sh.slots[i].seq != 0 && sh.slots[i].tag != tag {
		i = (i + 1) & mask
	}
	return &sh.slots[i]
}

func (x *opIndex) appendDetail(k *opKey, ref opRef) {
	last := len(x.chunks) - 1
	if last < 0 || len(x.chunks[last]) == opChunk {
		// A chunk starts small, so a ledger of a few operations (a test,
		// a demo's first minute) does not hold a whole one per state.
		x.chunks = append(x.chunks, make([]opDetail, 0, 64))
		last++
	}
	x.chunks[last] = append(x.chunks[last], opDetail{key: *k, time: ref.time, digest: ref.digest})
	x.n++
}

func (x *opIndex) grow(sh *opShard) {
	old := sh.slots
	sh.slots = make([]opSlot, max(opMinSlots, 2*len(old)))
	mask := uint64(len(sh.slots) - 1)
	for _, s := range old {
		if s.seq == 0 {
			continue
		}
		i := s.tag & mask
		for sh.slots[i].seq != 0 {
			i = (i + 1) & mask
		}
		sh.slots[i] = s
	}
}

// clone copies the index. Whole chunks are never written again, so the
// copy shares them; the last one, still filling, it copies.
func (x *opIndex) clone() *opIndex {
	c := &opIndex{n: x.n, chunks: append([][]opDetail(nil), x.chunks...), plainTags: x.plainTags}
	if last := len(c.chunks) - 1; last >= 0 && len(c.chunks[last]) < opChunk {
		c.chunks[last] = append([]opDetail(nil), c.chunks[last]...)
	}
	for i := range x.shards {
		c.shards[i] = opShard{slots: append([]opSlot(nil), x.shards[i].slots...), n: x.shards[i].n}
	}
	if len(x.clash) > 0 {
		c.clash = maps.Clone(x.clash)
	}
	return c
}

// all yields every entry in journal order.
func (x *opIndex) all() iter.Seq[opEntry] {
	return func(yield func(opEntry) bool) {
		seq := uint64(0)
		for _, c := range x.chunks {
			for i := range c {
				seq++
				if !yield(opEntry{key: c[i].key, ref: opRef{seq: seq, time: c[i].time, digest: c[i].digest}}) {
					return
				}
			}
		}
	}
}

package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
)

// A replicated ledger keeps the registry of the keys its intermediaries
// sign in with as entries of its log, like the relay: every replica holds
// the same registry, rebuilt from its snapshot and the log when it starts,
// so a replica that never saw the banks' credentials (a new machine, a
// rebuilt disk) signs them in after a failover all the same.

// keyEntryKind starts a key registration entry.
const keyEntryKind = 'K'

// bankKeys is the registry.
type bankKeys struct {
	mu   sync.RWMutex
	keys map[AccountID]ed25519.PublicKey
}

// RegisterKey records, at the leader of a replicated ledger, the key an
// open intermediary signs in with; a later registration replaces it.
func (l *Ledger) RegisterKey(ctx context.Context, id AccountID, key ed25519.PublicKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !l.Replicated() {
		return broken(ErrCorrupt, "a ledger that is not replicated keeps no key registry")
	}
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("ledger: a key of %d bytes for %s, want an ed25519 public key", len(key), id)
	}
	if err := l.checkOpenIntermediary(id); err != nil {
		return err
	}
	if !l.Leading() {
		return ErrNotLeader
	}
	if have, ok := l.IntermediaryKey(id); ok && have.Equal(key) {
		return nil
	}
	e := appendString([]byte{keyEntryKind}, string(id))
	e = append(e, key...)
	return l.replicateEntry(e)
}

func (l *Ledger) checkOpenIntermediary(id AccountID) error {
	l.viewMu.RLock()
	defer l.viewMu.RUnlock()
	_, err := l.view.openIntermediary(id)
	return err
}

// IntermediaryKey is the key the registry holds for an intermediary.
func (l *Ledger) IntermediaryKey(id AccountID) (ed25519.PublicKey, bool) {
	l.keys.mu.RLock()
	defer l.keys.mu.RUnlock()
	k, ok := l.keys.keys[id]
	return k, ok
}

func (l *Ledger) applyKey(e []byte) error {
	id, rest, ok := readString(e[1:])
	if !ok || len(rest) != ed25519.PublicKeySize || !validID(id) {
		return broken(ErrCorrupt, "replicated key entry cut short or not an intermediary's key")
	}
	l.keys.mu.Lock()
	defer l.keys.mu.Unlock()
	if l.keys.keys == nil {
		l.keys.keys = map[AccountID]ed25519.PublicKey{}
	}
	l.keys.keys[AccountID(id)] = bytes.Clone(rest)
	return nil
}

// KeysSnapshot is the registry at one point, for a replica's snapshot.
type KeysSnapshot struct{ entries [][]byte }

// SnapshotKeys copies the registry as it is now.
func (l *Ledger) SnapshotKeys() *KeysSnapshot {
	l.keys.mu.RLock()
	defer l.keys.mu.RUnlock()
	s := &KeysSnapshot{}
	for _, id := range slices.Sorted(maps.Keys(l.keys.keys)) {
		e := appendString(nil, string(id))
		s.entries = append(s.entries, append(e, l.keys.keys[id]...))
	}
	return s
}

// WriteTo writes the copy: the count, then each intermediary's id and
// key.
func (s *KeysSnapshot) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(binary.AppendUvarint(nil, uint64(len(s.entries))))
	if err != nil {
		return int64(n), err
	}
	total := int64(n)
	for _, e := range s.entries {
		k, err := w.Write(e)
		total += int64(k)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// StagedKeys is a snapshot's registry read and checked.
type StagedKeys struct {
	l    *Ledger
	keys map[AccountID]ed25519.PublicKey
}

// StageKeys reads a snapshot's registry; the ledger's is not changed.
func (l *Ledger) StageKeys(r io.Reader) (*StagedKeys, error) {
	b, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, err
	}
	count, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, fmt.Errorf("ledger: key registry snapshot cut short")
	}
	b = b[k:]
	s := &StagedKeys{l: l, keys: map[AccountID]ed25519.PublicKey{}}
	for ; count > 0; count-- {
		id, rest, ok := readString(b)
		if !ok || len(rest) < ed25519.PublicKeySize || !validID(id) {
			return nil, fmt.Errorf("ledger: key registry snapshot cut short or not ids and keys")
		}
		s.keys[AccountID(id)] = bytes.Clone(rest[:ed25519.PublicKeySize])
		b = rest[ed25519.PublicKeySize:]
	}
	if len(b) > 0 {
		return nil, fmt.Errorf("ledger: key registry snapshot: bytes follow its keys")
	}
	return s, nil
}

// Apply makes the snapshot's registry the ledger's.
func (s *StagedKeys) Apply() error {
	s.l.keys.mu.Lock()
	defer s.l.keys.mu.Unlock()
	s.l.keys.keys = s.keys
	return nil
}

// Discard drops what was staged.
func (s *StagedKeys) Discard() { s.keys = nil }

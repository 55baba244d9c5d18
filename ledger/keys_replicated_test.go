package ledger_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// The key registry is the group's: a key registered at the leader is the
// follower's too, a registration replaces an earlier key, only open
// intermediaries have keys, and a replica rebuilt from the log or from a
// snapshot holds the same registry.
func TestKeyRegistry_ReplicatedReplayedAndSnapshotted(t *testing.T) {
	p := pairWithBanks(t)
	ctx := context.Background()
	pubA, _, _ := ed25519.GenerateKey(nil)
	pubB, _, _ := ed25519.GenerateKey(nil)
	if err := p.follower.RegisterKey(ctx, "bank-a", pubA); !errors.Is(err, ledger.ErrNotLeader) {
		t.Errorf("a follower registered a key: %v", err)
	}
	if err := p.leader.RegisterKey(ctx, "nobody", pubA); !errors.Is(err, ledger.ErrUnknownAccount) {
		t.Errorf("a key for an account that is not there: %v", err)
	}
	if err := p.leader.RegisterKey(ctx, "bank-a", pubA[:5]); err == nil {
		t.Error("a key cut short was registered")
	}
	for _, k := range []ed25519.PublicKey{pubB, pubA, pubA} { // the last changes nothing
		if err := p.leader.RegisterKey(ctx, "bank-a", k); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.leader.RegisterKey(ctx, "bank-b", pubB); err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]*ledger.Ledger{"leader": p.leader, "follower": p.follower} {
		if k, ok := l.IntermediaryKey("bank-a"); !ok || !k.Equal(pubA) {
			t.Errorf("the %s holds %x for bank-a, want %x", name, k, pubA)
		}
	}

	// Replayed into a fresh replica.
	fresh := openFollower(t)
	entries := p.log()
	for _, e := range entries {
		if err := fresh.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	if k, ok := fresh.IntermediaryKey("bank-b"); !ok || !k.Equal(pubB) {
		t.Errorf("the replayed replica holds %x for bank-b", k)
	}

	// And from a snapshot, which refuses to be cut short.
	var buf bytes.Buffer
	if _, err := p.leader.SnapshotKeys().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	other := pairWithBanks(t)
	for cut := 1; cut < buf.Len(); cut++ {
		if _, err := other.follower.StageKeys(bytes.NewReader(buf.Bytes()[:cut])); err == nil {
			t.Fatalf("a registry cut at %d of %d bytes was staged", cut, buf.Len())
		}
	}
	staged, err := other.follower.StageKeys(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := staged.Apply(); err != nil {
		t.Fatal(err)
	}
	if k, ok := other.follower.IntermediaryKey("bank-a"); !ok || !k.Equal(pubA) {
		t.Errorf("the restored registry holds %x for bank-a", k)
	}
}

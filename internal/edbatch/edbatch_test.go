package edbatch

import (
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"testing"

	"filippo.io/edwards25519"
)

func signed(t testing.TB, n int) []*Item {
	t.Helper()
	var items []*Item
	for i := range n {
		pub, priv, _ := ed25519.GenerateKey(nil)
		k, err := NewKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte(fmt.Sprint("voucher ", i))
		items = append(items, &Item{Key: k, Msg: msg, Sig: ed25519.Sign(priv, msg)})
	}
	return items
}

func TestVerifyBatch_RejectsOneBadSignature(t *testing.T) {
	batch := signed(t, 40)
	if !VerifyBatch(batch) {
		t.Fatal("a batch of good signatures failed")
	}
	batch[17].Msg = []byte("changed")
	if VerifyBatch(batch) || VerifyOne(batch[17]) {
		t.Fatal("a batch with a bad signature passed")
	}
}

// One purse's vouchers share their key's term in the batch equation: a
// bad one among them, or one signed by another key in its name, still
// fails the batch, and is found.
func TestVerifyBatch_OneKeysSignatures(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	key, _ := NewKey(pub)
	var items []*Item
	for i := range 64 {
		msg := []byte(fmt.Sprint("voucher ", i))
		items = append(items, &Item{Key: key, Msg: msg, Sig: ed25519.Sign(priv, msg)})
	}
	if !VerifyBatch(items) {
		t.Fatal("64 good signatures under one key failed")
	}
	for _, spoil := range []func(it *Item){
		func(it *Item) { it.Msg = []byte("changed") },
		func(it *Item) { it.Sig = ed25519.Sign(other, it.Msg) },
		func(it *Item) { it.Sig = append(append([]byte(nil), it.Sig[:32]...), items[0].Sig[32:]...) }, // another's s
	} {
		bad := *items[40]
		spoil(&bad)
		batch := append(append(append([]*Item(nil), items[:40]...), &bad), items[41:]...)
		if VerifyBatch(batch) {
			t.Error("a batch under one key with a bad signature passed")
		}
		for i, ok := range Verify(batch, 64) {
			if ok != (i != 40) {
				t.Errorf("signature %d: %v", i, ok)
			}
		}
	}
}

// Verify agrees with crypto/ed25519 on signatures it made and on every
// way of spoiling one, wherever the bad ones fall in their batches.
func TestVerify_AgreesWithEd25519(t *testing.T) {
	items := signed(t, 300)
	want := make([]bool, len(items))
	for i, it := range items {
		switch i % 7 {
		case 1: // another message
			it.Msg = []byte("other")
		case 2: // a flipped bit in R or s
			it.Sig = append([]byte(nil), it.Sig...)
			it.Sig[i%64] ^= 1 << (i % 8)
		case 3: // s not reduced
			it.Sig = append([]byte(nil), it.Sig...)
			it.Sig[63] |= 0xf0
		case 4: // another key's signature
			it.Key = items[(i+1)%len(items)].Key
		case 5: // too short
			it.Sig = it.Sig[:63]
		}
		want[i] = len(it.Sig) == ed25519.SignatureSize && ed25519.Verify(it.Key.Public(), it.Msg, it.Sig)
	}
	for _, size := range []int{1, 2, 7, 64, 1000} {
		got := Verify(items, size)
		for i := range items {
			if got[i] != want[i] {
				t.Errorf("batches of %d: signature %d: %v, crypto/ed25519 says %v", size, i, got[i], want[i])
			}
		}
	}
}

// A signature whose R carries a small-order component fails the strict
// (cofactorless) check but passes the cofactored one, alone and in any
// batch alike: its verdict does not depend on its company.
func TestVerify_TorsionedSignatureHasOneVerdict(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	pub := priv.Public().(ed25519.PublicKey)
	key, _ := NewKey(pub)
	msg := []byte("torsion")
	// Sign with R' = R + T for T of order 8: s = r + k'·a with k' over R'.
	seed := priv.Seed()
	a, prefix := expand(seed)
	var T *edwards25519.Point
	for _, enc := range smallOrder {
		p, err := new(edwards25519.Point).SetBytes(enc)
		if err == nil && new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 &&
			p.Equal(edwards25519.NewIdentityPoint()) == 0 {
			T = p
			break
		}
	}
	r := hashScalar(prefix, msg)
	R := new(edwards25519.Point).ScalarBaseMult(r)
	R.Add(R, T)
	k := hashScalar(R.Bytes(), pub, msg)
	s := edwards25519.NewScalar().MultiplyAdd(k, a, r)
	sig := append(R.Bytes(), s.Bytes()...)
	if ed25519.Verify(pub, msg, sig) {
		t.Skip("crypto/ed25519 took the torsioned signature; nothing to tell apart")
	}
	odd := &Item{Key: key, Msg: msg, Sig: sig}
	items := append(signed(t, 20), odd)
	rand.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	if !VerifyOne(odd) {
		t.Fatal("the cofactored check refused a signature that holds up to torsion")
	}
	for _, size := range []int{1, 5, 64} {
		for i, ok := range Verify(items, size) {
			if !ok {
				t.Errorf("batches of %d: signature %d refused", size, i)
			}
		}
	}
}

// smallOrder are encodings of points of small order (from the Ed25519
// literature's list), among which one of order 8.
var smallOrder = [][]byte{
	hexBytes("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
	hexBytes("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
}

func TestNewKey_RefusesSmallOrderKeys(t *testing.T) {
	identity := make([]byte, 32)
	identity[0] = 1 // the neutral point, which verifies any "signature" with s = 0
	if _, err := NewKey(identity); err != ErrWeakKey {
		t.Errorf("the identity point as a key: %v, want ErrWeakKey", err)
	}
	for _, p := range smallOrder {
		if _, err := NewKey(p); err != ErrWeakKey {
			t.Errorf("a point of order 8 as a key: %v, want ErrWeakKey", err)
		}
	}
	if _, err := NewKey(make([]byte, 31)); err == nil {
		t.Error("31 bytes were taken as a key")
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	if _, err := NewKey(pub); err != nil {
		t.Errorf("a real key was refused: %v", err)
	}
}

func BenchmarkVerify(b *testing.B) {
	many := signed(b, 64)
	one := signed(b, 64)
	for _, it := range one[1:] { // one purse's vouchers: the same key
		it.Key, it.Sig = one[0].Key, nil
	}
	_, priv, _ := ed25519.GenerateKey(nil)
	one[0].Key, _ = NewKey(priv.Public().(ed25519.PublicKey))
	for _, it := range one {
		it.Key, it.Sig = one[0].Key, ed25519.Sign(priv, it.Msg)
	}
	for _, c := range []struct {
		name  string
		size  int
		items []*Item
	}{{"keys=64/batch=1", 1, many}, {"keys=64/batch=64", 64, many}, {"keys=1/batch=64", 64, one}} {
		items := c.items
		size := c.size
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				for _, ok := range Verify(items, size) {
					if !ok {
						b.Fatal("a good signature failed")
					}
				}
			}
			b.ReportMetric(float64(b.N*len(items))/b.Elapsed().Seconds(), "signatures/s")
		})
	}
}

package intermediary

import (
	"crypto/ed25519"
	"fmt"
	"sync"
	"testing"
)

func TestSigChecker_AgreesWithEd25519(t *testing.T) {
	c := newSigChecker()
	defer c.close()
	type tc struct {
		key      *sigKey
		msg, sig []byte
		want     bool
	}
	var cases []tc
	for i := range 300 {
		pub, priv, _ := ed25519.GenerateKey(nil)
		k, err := newSigKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte(fmt.Sprintf("pay %d", i))
		sig := ed25519.Sign(priv, msg)
		switch i % 5 {
		case 1: // another message
			cases = append(cases, tc{k, []byte("other"), sig, false})
		case 2: // a flipped bit in R or s
			bad := append([]byte(nil), sig...)
			bad[i%64] ^= 1 << (i % 8)
			cases = append(cases, tc{k, msg, bad, ed25519.Verify(pub, msg, bad)})
		case 3: // s not reduced
			bad := append([]byte(nil), sig...)
			bad[63] |= 0xf0
			cases = append(cases, tc{k, msg, bad, false})
		default:
			cases = append(cases, tc{k, msg, sig, true})
		}
	}
	cases = append(cases, tc{cases[0].key, []byte("short"), []byte{1, 2, 3}, false})
	// Concurrent checks form batches that mix good and bad signatures;
	// every seventh is checked alone, and must be judged the same.
	var wg sync.WaitGroup
	for i, c0 := range cases {
		wg.Go(func() {
			if got := c.check(c0.key, c0.msg, c0.sig, i%7 == 0); got != c0.want {
				t.Errorf("case %d: check = %v, want %v", i, got, c0.want)
			}
		})
	}
	wg.Wait()
}

func BenchmarkSigChecker(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	k, _ := newSigKey(pub)
	msg := []byte("cbdc-wallet/v1\npay\nw-0123456789abcdef0123@bank-1\nr1\nw-0123456789abcdef0124@bank-2\n100\n")
	sig := ed25519.Sign(priv, msg)
	c := newSigChecker()
	defer c.close()
	b.SetParallelism(64)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !c.check(k, msg, sig, false) {
				b.Error("good signature refused")
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signatures/s")
}

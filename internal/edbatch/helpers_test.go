package edbatch

import (
	"crypto/sha512"
	"encoding/hex"

	"filippo.io/edwards25519"
)

func hexBytes(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// expand is RFC 8032's key expansion: the secret scalar and the prefix.
func expand(seed []byte) (*edwards25519.Scalar, []byte) {
	h := sha512.Sum512(seed)
	a, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		panic(err)
	}
	return a, h[32:]
}

func hashScalar(parts ...[]byte) *edwards25519.Scalar {
	h := sha512.New()
	for _, p := range parts {
		h.Write(p)
	}
	s, _ := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	return s
}

package settlement

import (
	"math"
	"math/big"
	"math/bits"
	"strconv"
)

// Sum is a total of yen amounts that cannot overflow: each amount fits an
// int64, and a Sum holds 128 bits, so even 2^63 vouchers of the largest
// amount add up exactly. Totals in reports are Sums; the zero Sum is 0.
type Sum struct {
	hi int64
	lo uint64
}

// SumOf returns the Sum of one amount.
func SumOf(v int64) Sum {
	var s Sum
	return s.Add(v)
}

// Add returns s + v.
func (s Sum) Add(v int64) Sum {
	hi := s.hi
	if v < 0 {
		hi--
	}
	lo, carry := bits.Add64(s.lo, uint64(v), 0)
	return Sum{hi: hi + int64(carry), lo: lo}
}

// Plus returns s + t.
func (s Sum) Plus(t Sum) Sum {
	lo, carry := bits.Add64(s.lo, t.lo, 0)
	return Sum{hi: s.hi + t.hi + int64(carry), lo: lo}
}

// Minus returns s − t.
func (s Sum) Minus(t Sum) Sum {
	lo, borrow := bits.Sub64(s.lo, t.lo, 0)
	return Sum{hi: s.hi - t.hi - int64(borrow), lo: lo}
}

// Cmp compares s and t: -1, 0 or +1.
func (s Sum) Cmp(t Sum) int {
	switch {
	case s.hi < t.hi:
		return -1
	case s.hi > t.hi:
		return 1
	case s.lo < t.lo:
		return -1
	case s.lo > t.lo:
		return 1
	}
	return 0
}

// IsZero reports whether s is 0.
func (s Sum) IsZero() bool { return s == Sum{} }

// Sign is -1, 0 or +1.
func (s Sum) Sign() int { return s.Cmp(Sum{}) }

// Int64 returns s as an int64, and whether it fits.
func (s Sum) Int64() (int64, bool) {
	v := int64(s.lo)
	return v, (s.hi == 0 && s.lo <= math.MaxInt64) || (s.hi == -1 && s.lo > math.MaxInt64)
}

// Clamp returns s as an int64, the nearest int64 when it does not fit: for
// gauges and screens that cannot take more.
func (s Sum) Clamp() int64 {
	if v, ok := s.Int64(); ok {
		return v
	}
	if s.hi < 0 {
		return math.MinInt64
	}
	return math.MaxInt64
}

// Float64 returns s as the nearest float64, for metrics.
func (s Sum) Float64() float64 { return float64(s.hi)*(1<<64) + float64(s.lo) }

// Big returns s as a big.Int.
func (s Sum) Big() *big.Int {
	b := new(big.Int).SetInt64(s.hi)
	b.Lsh(b, 64)
	return b.Add(b, new(big.Int).SetUint64(s.lo))
}

func (s Sum) String() string {
	if v, ok := s.Int64(); ok {
		return strconv.FormatInt(v, 10)
	}
	return s.Big().String()
}

// MarshalJSON writes s as a JSON number, exactly.
func (s Sum) MarshalJSON() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalJSON reads a JSON number that fits 128 bits.
func (s *Sum) UnmarshalJSON(b []byte) error {
	v, ok := new(big.Int).SetString(string(b), 10)
	if !ok || v.BitLen() > 127 {
		return &detailed{ErrBadNumber, string(b)}
	}
	lo := new(big.Int).And(v, new(big.Int).SetUint64(math.MaxUint64))
	hi := new(big.Int).Rsh(v, 64)
	*s = Sum{hi: hi.Int64(), lo: lo.Uint64()}
	return nil
}

package offline

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"
)

// FormatVersion is the version byte that starts every encoding.
const FormatVersion = 1

// Type bytes follow the version byte, so one kind of object is never
// mistaken for another.
const (
	typeBankCert    = 'B'
	typeDeviceCert  = 'D'
	typeVoucher     = 'V'
	typeRequest     = 'R'
	typeRevocations = 'L'
	typeReceipt     = 'F'
	typeSync        = 'S'
)

// Signature domains keep a signature over one kind of object from being
// valid for another.
const (
	domainBankCert    = "cbdc-sandbox/offline/bank-cert/v1\x00"
	domainDeviceCert  = "cbdc-sandbox/offline/device-cert/v1\x00"
	domainVoucher     = "cbdc-sandbox/offline/voucher/v1\x00"
	domainRevocations = "cbdc-sandbox/offline/revocations/v1\x00"
	domainReceipt     = "cbdc-sandbox/offline/funding-receipt/v1\x00"
	domainSync        = "cbdc-sandbox/offline/sync-receipt/v1\x00"
)

// MaxBankIDLen bounds a bank id, as the ledger bounds account ids.
const MaxBankIDLen = 64

// Serial is a device's pseudonymous serial number, chosen at random by the
// bank that certifies it. The zero serial names no device: as a voucher's
// payee it means the payer's own online wallet (a defund).
type Serial [16]byte

func (s Serial) String() string { return hex.EncodeToString(s[:]) }

// IsZero reports whether s is the zero serial.
func (s Serial) IsZero() bool { return s == Serial{} }

// ParseSerial reads a serial in its 32-hex-digit form.
func ParseSerial(text string) (Serial, error) {
	var s Serial
	b, err := hex.DecodeString(text)
	if err != nil || len(b) != len(s) {
		return s, broken(ErrMalformed, "serial %q is not 32 hex digits", text)
	}
	copy(s[:], b)
	return s, nil
}

// Hash names a voucher: SHA-256 of its signed bytes without the domain
// string (see Voucher.Hash).
type Hash [32]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Nonce is a payee's one-use challenge in a payment request.
type Nonce [16]byte

func (n Nonce) String() string { return hex.EncodeToString(n[:]) }

// unixMilli turns a time into the encoded form; the zero time is 0.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// signedMessage is what a signature covers: the object's domain string,
// then its signed fields.
func signedMessage(domain string, signed func(*writer)) []byte {
	w := writer{b: []byte(domain)}
	signed(&w)
	return w.bytes()
}

// writer appends the canonical big-endian encoding.
type writer struct{ b []byte }

func (w *writer) u8(v uint8)       { w.b = append(w.b, v) }
func (w *writer) u16(v uint16)     { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32)     { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64)     { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *writer) i64(v int64)      { w.u64(uint64(v)) }
func (w *writer) str(s string)     { w.u8(uint8(len(s))); w.b = append(w.b, s...) }
func (w *writer) blob(p []byte)    { w.u16(uint16(len(p))); w.b = append(w.b, p...) }
func (w *writer) header(typ byte)  { w.u8(FormatVersion); w.u8(typ) }
func (w *writer) time(t time.Time) { w.i64(unixMilli(t)) }
func (w *writer) amount(v int64)   { w.u64(uint64(v)) }
func (w *writer) fixed(p []byte)   { w.b = append(w.b, p...) }
func (w *writer) bytes() []byte    { return w.b }

// reader decodes; the first problem sticks and later reads return zeros.
type reader struct {
	b    []byte
	what string
	err  error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = broken(ErrMalformed, "%s: %s", r.what, fmt.Sprintf(format, args...))
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.fail("ends early")
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8() uint8 {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if p := r.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *reader) fixed(dst []byte) { copy(dst, r.take(len(dst))) }

func (r *reader) str() string {
	n := int(r.u8())
	return string(r.take(n))
}

func (r *reader) blob() []byte { return r.take(int(r.u16())) }

// amount reads a positive yen amount.
func (r *reader) amount(field string) int64 {
	v := r.u64()
	if r.err == nil && (v == 0 || v > math.MaxInt64) {
		r.fail("%s %d is not a positive int64", field, v)
	}
	return int64(v)
}

func (r *reader) time() time.Time {
	v := int64(r.u64())
	if r.err == nil && (v < 0 || v > maxMilli) {
		r.fail("time %d is out of range", v)
	}
	return fromMilli(v)
}

// maxMilli is the year 9999, so times stay printable and comparable.
const maxMilli = 253402300799999

func (r *reader) header(typ byte) {
	v, t := r.u8(), r.u8()
	switch {
	case r.err != nil:
	case v != FormatVersion:
		r.fail("format version %d, want %d", v, FormatVersion)
	case t != typ:
		r.fail("type byte %q, want %q", t, typ)
	}
}

func (r *reader) bankID() string {
	s := r.str()
	if r.err == nil && !validBankID(s) {
		r.fail("bank id %q is not 1 to %d letters, digits or ._:@-", s, MaxBankIDLen)
	}
	return s
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d bytes left over", len(r.b))
	}
	return r.err
}

func validBankID(s string) bool {
	if len(s) == 0 || len(s) > MaxBankIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._:@-", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// Text form: a short prefix naming the object, then unpadded base64url.
// It fits a QR code and survives copy and paste.
var textEncoding = base64.RawURLEncoding

func toText(prefix string, b []byte) string { return prefix + textEncoding.EncodeToString(b) }

func fromText(prefix, text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, prefix) {
		return nil, broken(ErrMalformed, "text does not start with %q", prefix)
	}
	b, err := textEncoding.DecodeString(text[len(prefix):])
	if err != nil {
		return nil, broken(ErrMalformed, "text after %q is not base64url: %v", prefix, err)
	}
	return b, nil
}

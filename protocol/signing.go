package protocol

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// SessionBytes is what a wallet signs to open a session: the intermediary's
// id, the connection's challenge and the wallet's public key.
func SessionBytes(bank string, challenge, publicKey []byte) []byte {
	var b strings.Builder
	b.WriteString("cbdc-wallet-session/v1\n")
	b.WriteString(bank)
	b.WriteByte('\n')
	b.WriteString(hex.EncodeToString(challenge))
	b.WriteByte('\n')
	b.WriteString(hex.EncodeToString(publicKey))
	return []byte(b.String())
}

// SigningBytes is what a wallet signs for an instruction: the message
// type, the wallet's address, the request id and the instruction's fields
// in the order Signed lists them, one per line.
func SigningBytes(typ, wallet, requestID string, fields ...string) []byte {
	n := len("cbdc-wallet/v1\n") + len(typ) + len(wallet) + len(requestID) + 3
	for _, f := range fields {
		n += len(f) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, "cbdc-wallet/v1\n"...)
	for _, s := range [3]string{typ, wallet, requestID} {
		b = append(append(b, s...), '\n')
	}
	for _, f := range fields {
		b = append(append(b, f...), '\n')
	}
	return b
}

// Signed lists the fields a signed instruction's signature covers, in order.
type Signed interface {
	SignedFields() []string
	Sig() []byte
	SetSig([]byte)
}

func amount(a int64) string { return strconv.FormatInt(a, 10) }

func (m *Pay) SignedFields() []string { return []string{m.To, amount(m.Amount)} }
func (m *RequestPayment) SignedFields() []string {
	return []string{m.Payer, amount(m.Amount), m.Memo, strconv.FormatInt(m.ExpiresIn, 10)}
}
func (m *Approve) SignedFields() []string        { return []string{m.Ref, m.Merchant, amount(m.Amount)} }
func (m *Decline) SignedFields() []string        { return []string{m.Ref} }
func (m *Withdraw) SignedFields() []string       { return []string{amount(m.Amount)} }
func (m *Deposit) SignedFields() []string        { return []string{amount(m.Amount)} }
func (m *CancelSchedule) SignedFields() []string { return []string{m.Ref} }
func (m *Settings) SignedFields() []string {
	return []string{strconv.FormatBool(m.Waterfall), strconv.FormatBool(m.AutoCharge)}
}
func (m *Schedule) SignedFields() []string {
	return []string{m.To, amount(m.Amount), m.Memo, m.At.UTC().Format(time.RFC3339Nano), m.Every, strconv.Itoa(m.Times)}
}

func (m *Pay) Sig() []byte            { return m.Signature }
func (m *RequestPayment) Sig() []byte { return m.Signature }
func (m *Approve) Sig() []byte        { return m.Signature }
func (m *Decline) Sig() []byte        { return m.Signature }
func (m *Withdraw) Sig() []byte       { return m.Signature }
func (m *Deposit) Sig() []byte        { return m.Signature }
func (m *CancelSchedule) Sig() []byte { return m.Signature }
func (m *Settings) Sig() []byte       { return m.Signature }
func (m *Schedule) Sig() []byte       { return m.Signature }

func (m *Pay) SetSig(s []byte)            { m.Signature = s }
func (m *RequestPayment) SetSig(s []byte) { m.Signature = s }
func (m *Approve) SetSig(s []byte)        { m.Signature = s }
func (m *Decline) SetSig(s []byte)        { m.Signature = s }
func (m *Withdraw) SetSig(s []byte)       { m.Signature = s }
func (m *Deposit) SetSig(s []byte)        { m.Signature = s }
func (m *CancelSchedule) SetSig(s []byte) { m.Signature = s }
func (m *Settings) SetSig(s []byte)       { m.Signature = s }
func (m *Schedule) SetSig(s []byte)       { m.Signature = s }

// NewSigned returns an empty body of the signed instruction type typ, such
// as TypePay, to decode into and sign; false for a type that is not a
// signed instruction.
func NewSigned(typ string) (Signed, bool) {
	f, ok := signedTypes[typ]
	if !ok {
		return nil, false
	}
	return f(), true
}

var signedTypes = map[string]func() Signed{
	TypePay:            func() Signed { return new(Pay) },
	TypeRequestPayment: func() Signed { return new(RequestPayment) },
	TypeApprove:        func() Signed { return new(Approve) },
	TypeDecline:        func() Signed { return new(Decline) },
	TypeWithdraw:       func() Signed { return new(Withdraw) },
	TypeDeposit:        func() Signed { return new(Deposit) },
	TypeSchedule:       func() Signed { return new(Schedule) },
	TypeCancelSchedule: func() Signed { return new(CancelSchedule) },
	TypeSettings:       func() Signed { return new(Settings) },
	TypePurseProvision: func() Signed { return new(PurseProvision) },
	TypePurseFund:      func() Signed { return new(PurseFund) },
	TypePurseRetire:    func() Signed { return new(PurseRetire) },
}

// Sign signs an instruction of type typ as wallet with key.
func Sign(key ed25519.PrivateKey, typ, wallet, requestID string, m Signed) {
	m.SetSig(ed25519.Sign(key, SigningBytes(typ, wallet, requestID, m.SignedFields()...)))
}

// Verify checks an instruction's signature.
func Verify(pub ed25519.PublicKey, typ, wallet, requestID string, m Signed) bool {
	return len(pub) == ed25519.PublicKeySize &&
		ed25519.Verify(pub, SigningBytes(typ, wallet, requestID, m.SignedFields()...), m.Sig())
}

// WalletKeyID is the part of a wallet's address derived from its key: the
// first 10 bytes of the SHA-256 of the public key, in hex.
func WalletKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:10])
}

// WalletAddress is the address a wallet is paid at: "w-", its key id, "@"
// and the id of the intermediary that serves it.
func WalletAddress(pub ed25519.PublicKey, bank string) string {
	return "w-" + WalletKeyID(pub) + "@" + bank
}

// ParseWalletAddress splits an address into its key id and intermediary.
func ParseWalletAddress(addr string) (keyID, bank string, ok bool) {
	rest, found := strings.CutPrefix(addr, "w-")
	if !found {
		return "", "", false
	}
	keyID, bank, found = strings.Cut(rest, "@")
	if !found || len(keyID) != 20 || bank == "" || len(addr) > 64 || !isHex(keyID) || !validToken(bank, 40) {
		return "", "", false
	}
	return keyID, bank, true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ValidRequestID reports whether id is 1 to 32 letters, digits or ._-
func ValidRequestID(id string) bool { return validToken(id, 32) && !strings.ContainsAny(id, ":@") }

// validToken reports whether s is 1..max letters, digits or ._:@-
func validToken(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == '-', c == ':', c == '@':
		default:
			return false
		}
	}
	return true
}

// ValidText reports whether s is at most max characters with no control characters.
func ValidText(s string, max int) bool {
	n := 0
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffd {
			return false
		}
		n++
	}
	return n <= max
}

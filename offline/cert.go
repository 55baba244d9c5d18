package offline

import (
	"crypto/ed25519"
	"time"
)

// BankCert is the central bank's statement that a bank's key may certify
// offline devices until NotAfter. The ledger's root key signs it.
type BankCert struct {
	BankID    string
	Key       ed25519.PublicKey
	NotAfter  time.Time
	Signature [ed25519.SignatureSize]byte
}

func (c *BankCert) signed(w *writer) {
	w.header(typeBankCert)
	w.str(c.BankID)
	w.fixed(c.Key)
	w.time(c.NotAfter)
}

// IssueBankCert signs a bank certificate with the root key.
func IssueBankCert(root ed25519.PrivateKey, bankID string, key ed25519.PublicKey, notAfter time.Time) (BankCert, error) {
	c := BankCert{BankID: bankID, Key: key, NotAfter: notAfter.Truncate(time.Millisecond)}
	if err := c.check(); err != nil {
		return BankCert{}, err
	}
	copy(c.Signature[:], ed25519.Sign(root, signedMessage(domainBankCert, c.signed)))
	return c, nil
}

func (c *BankCert) check() error {
	switch {
	case !validBankID(c.BankID):
		return broken(ErrMalformed, "bank id %q is not 1 to %d letters, digits or ._:@-", c.BankID, MaxBankIDLen)
	case len(c.Key) != ed25519.PublicKeySize:
		return broken(ErrMalformed, "bank key is %d bytes, want %d", len(c.Key), ed25519.PublicKeySize)
	}
	return nil
}

// Marshal returns the canonical encoding.
func (c BankCert) Marshal() []byte {
	var w writer
	c.signed(&w)
	w.fixed(c.Signature[:])
	return w.bytes()
}

// ParseBankCert decodes a bank certificate; it does not verify it.
func ParseBankCert(b []byte) (BankCert, error) {
	r := reader{b: b, what: "bank certificate"}
	c := readBankCert(&r)
	return c, r.end()
}

func readBankCert(r *reader) BankCert {
	var c BankCert
	r.header(typeBankCert)
	c.BankID = r.bankID()
	c.Key = make(ed25519.PublicKey, ed25519.PublicKeySize)
	r.fixed(c.Key)
	c.NotAfter = r.time()
	r.fixed(c.Signature[:])
	return c
}

// Verify checks the root's signature and that the certificate is valid at
// the given time.
func (c BankCert) Verify(root ed25519.PublicKey, at time.Time) error {
	if err := c.verifySignature(root); err != nil {
		return err
	}
	return c.validAt(at)
}

func (c BankCert) verifySignature(root ed25519.PublicKey) error {
	if err := c.check(); err != nil {
		return err
	}
	if !ed25519.Verify(root, signedMessage(domainBankCert, c.signed), c.Signature[:]) {
		return broken(ErrUnknownBank, "certificate of %s is not signed by the central bank's root key", c.BankID)
	}
	return nil
}

func (c BankCert) validAt(at time.Time) error {
	if at.After(c.NotAfter) {
		return broken(ErrCertificateExpired, "certificate of bank %s expired at %s", c.BankID, c.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// DeviceCert is a bank's statement that a purse key belongs to a device it
// provisioned, under a pseudonymous serial and with the given limits.
type DeviceCert struct {
	Serial    Serial
	Key       ed25519.PublicKey
	BankID    string
	Limits    Limits
	Issued    time.Time
	Expires   time.Time
	Signature [ed25519.SignatureSize]byte
}

func (c *DeviceCert) signed(w *writer) {
	w.header(typeDeviceCert)
	w.fixed(c.Serial[:])
	w.fixed(c.Key)
	w.str(c.BankID)
	w.u8(uint8(c.Limits.Mode))
	w.amount(c.Limits.PaymentCap)
	w.amount(c.Limits.PurseCap)
	w.u32(c.Limits.PaymentsBeforeSync)
	w.time(c.Issued)
	w.time(c.Expires)
}

// IssueDeviceCert signs c (its Signature is ignored) with the bank's key.
func IssueDeviceCert(bank ed25519.PrivateKey, c DeviceCert) (DeviceCert, error) {
	c.Issued, c.Expires = c.Issued.Truncate(time.Millisecond), c.Expires.Truncate(time.Millisecond)
	if err := c.check(); err != nil {
		return DeviceCert{}, err
	}
	copy(c.Signature[:], ed25519.Sign(bank, signedMessage(domainDeviceCert, c.signed)))
	return c, nil
}

func (c *DeviceCert) check() error {
	switch {
	case c.Serial.IsZero():
		return broken(ErrMalformed, "device serial is zero")
	case len(c.Key) != ed25519.PublicKeySize:
		return broken(ErrMalformed, "device key is %d bytes, want %d", len(c.Key), ed25519.PublicKeySize)
	case !validBankID(c.BankID):
		return broken(ErrMalformed, "bank id %q is not 1 to %d letters, digits or ._:@-", c.BankID, MaxBankIDLen)
	case !c.Expires.After(c.Issued):
		return broken(ErrMalformed, "device certificate expires (%s) before it is issued (%s)", c.Expires, c.Issued)
	}
	return c.Limits.Validate()
}

// Marshal returns the canonical encoding.
func (c DeviceCert) Marshal() []byte {
	var w writer
	c.signed(&w)
	w.fixed(c.Signature[:])
	return w.bytes()
}

// ParseDeviceCert decodes a device certificate; it does not verify it.
func ParseDeviceCert(b []byte) (DeviceCert, error) {
	r := reader{b: b, what: "device certificate"}
	c := readDeviceCert(&r)
	if err := r.end(); err != nil {
		return DeviceCert{}, err
	}
	if err := c.check(); err != nil {
		return DeviceCert{}, broken(ErrMalformed, "device certificate: %v", err)
	}
	return c, nil
}

func readDeviceCert(r *reader) DeviceCert {
	var c DeviceCert
	r.header(typeDeviceCert)
	r.fixed(c.Serial[:])
	c.Key = make(ed25519.PublicKey, ed25519.PublicKeySize)
	r.fixed(c.Key)
	c.BankID = r.bankID()
	c.Limits.Mode = Mode(r.u8())
	c.Limits.PaymentCap = r.amount("payment cap")
	c.Limits.PurseCap = r.amount("purse cap")
	c.Limits.PaymentsBeforeSync = r.u32()
	c.Issued = r.time()
	c.Expires = r.time()
	r.fixed(c.Signature[:])
	return c
}

// Verify checks the bank's signature and that the certificate is valid at
// the given time. The bank certificate must already be verified.
func (c DeviceCert) Verify(bank BankCert, at time.Time) error {
	if err := c.verifySignature(bank); err != nil {
		return err
	}
	return c.validAt(at)
}

func (c DeviceCert) verifySignature(bank BankCert) error {
	if c.BankID != bank.BankID {
		return broken(ErrUnknownBank, "device certificate names bank %s, the bank certificate is for %s", c.BankID, bank.BankID)
	}
	if !ed25519.Verify(bank.Key, signedMessage(domainDeviceCert, c.signed), c.Signature[:]) {
		return broken(ErrBadSignature, "device certificate %s is not signed by bank %s", c.Serial, c.BankID)
	}
	return nil
}

func (c DeviceCert) validAt(at time.Time) error {
	if at.Before(c.Issued) || at.After(c.Expires) {
		return broken(ErrCertificateExpired, "device certificate %s is valid from %s to %s, not at %s",
			c.Serial, c.Issued.Format(time.RFC3339), c.Expires.Format(time.RFC3339), at.Format(time.RFC3339))
	}
	return nil
}

// Chain is what a payee needs to trust a payer's key offline: the payer's
// device certificate and its bank's certificate.
type Chain struct {
	Bank   BankCert
	Device DeviceCert
}

// Verify checks the chain up to the root key, at the given time.
func (ch Chain) Verify(root ed25519.PublicKey, at time.Time) error {
	if err := ch.VerifySignatures(root); err != nil {
		return err
	}
	return ch.ValidAt(at)
}

// VerifySignatures checks the chain's signatures up to the root key,
// whatever the time.
func (ch Chain) VerifySignatures(root ed25519.PublicKey) error {
	if err := ch.Bank.verifySignature(root); err != nil {
		return err
	}
	return ch.Device.verifySignature(ch.Bank)
}

// ValidAt checks both certificates are valid at the given time.
func (ch Chain) ValidAt(at time.Time) error {
	if err := ch.Bank.validAt(at); err != nil {
		return err
	}
	return ch.Device.validAt(at)
}

package offline

import (
	"fmt"
	"time"
)

// Mode says whether value received offline may be spent again before it
// settles (the Project Polaris modes).
type Mode uint8

const (
	// Staged: value received offline waits for settlement before it can be
	// spent; settled value goes to the payee's online wallet.
	Staged Mode = 1
	// Intermittent: value received offline is spendable at once, within the
	// purse's caps; settled value backs the payee's purse (its escrow).
	Intermittent Mode = 2
)

func (m Mode) String() string {
	switch m {
	case Staged:
		return "staged"
	case Intermittent:
		return "intermittent"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ParseMode reads a mode's name.
func ParseMode(s string) (Mode, error) {
	for _, m := range []Mode{Staged, Intermittent} {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, broken(ErrInvalidPolicy, "mode %q is not staged or intermittent", s)
}

// Bearer says who bears a loss from a voucher the payer's escrow cannot
// cover (a double spend or a purse spending beyond what was funded).
type Bearer uint8

const (
	// PayerBank: the bank that certified the cheating device pays the
	// payee from its float.
	PayerBank Bearer = 1
	// Payee: the payee goes without what the escrow cannot cover.
	Payee Bearer = 2
	// Guarantee: a central-bank guarantee account pays the payee.
	Guarantee Bearer = 3
)

func (b Bearer) String() string {
	switch b {
	case PayerBank:
		return "payer-bank"
	case Payee:
		return "payee"
	case Guarantee:
		return "guarantee"
	}
	return fmt.Sprintf("bearer(%d)", uint8(b))
}

// ParseBearer reads a bearer's name.
func ParseBearer(s string) (Bearer, error) {
	for _, b := range []Bearer{PayerBank, Payee, Guarantee} {
		if b.String() == s {
			return b, nil
		}
	}
	return 0, broken(ErrInvalidPolicy, "loss bearer %q is not payer-bank, payee or guarantee", s)
}

// Limits are the risk limits a bank writes into a device certificate; the
// purse enforces them when paying and the payee checks them when accepting.
type Limits struct {
	Mode               Mode
	PaymentCap         int64  // largest single offline payment, yen
	PurseCap           int64  // most a purse may hold, yen
	PaymentsBeforeSync uint32 // offline payments allowed before a sync is forced
}

// Validate reports the first limit out of range.
func (l Limits) Validate() error {
	switch {
	case l.Mode != Staged && l.Mode != Intermittent:
		return broken(ErrInvalidPolicy, "mode %d is not staged (1) or intermittent (2)", l.Mode)
	case l.PaymentCap <= 0:
		return broken(ErrInvalidPolicy, "per-payment cap %d must be positive", l.PaymentCap)
	case l.PurseCap < l.PaymentCap:
		return broken(ErrInvalidPolicy, "purse cap %d is below the per-payment cap %d", l.PurseCap, l.PaymentCap)
	case l.PaymentsBeforeSync == 0:
		return broken(ErrInvalidPolicy, "payments before sync must be at least 1")
	}
	return nil
}

// Policy is the offline policy of a sandbox or scenario.
type Policy struct {
	Limits
	CertLifetime time.Duration // how long a device certificate is valid
	LossBearer   Bearer
	// UploadGrace is how long after its payer's certificate expires a
	// voucher may still reach the ledger and be honoured; a later one is
	// its payee's loss. Zero means DefaultUploadGrace.
	UploadGrace time.Duration
}

// Defaults, chosen near the figures public pilots discuss for offline
// purses: small payments, a modest purse, a sync every few dozen payments.
const (
	DefaultPaymentCap         = 20_000
	DefaultPurseCap           = 100_000
	DefaultPaymentsBeforeSync = 30
	DefaultCertLifetime       = 30 * 24 * time.Hour
	DefaultUploadGrace        = 7 * 24 * time.Hour
	// MinCertLifetime is the shortest certificate life a policy may set:
	// short enough for experiments that watch certificates expire.
	MinCertLifetime = 10 * time.Second
	// MaxPolicyCap bounds a policy's caps (a quadrillion yen), so that the
	// sum of any upload's vouchers, and what wallets are told of it, fits
	// an int64.
	MaxPolicyCap = 1_000_000_000_000_000
)

// DefaultPolicy is the sandbox's policy unless configured otherwise.
func DefaultPolicy() Policy {
	return Policy{
		Limits: Limits{Mode: Staged, PaymentCap: DefaultPaymentCap, PurseCap: DefaultPurseCap,
			PaymentsBeforeSync: DefaultPaymentsBeforeSync},
		CertLifetime: DefaultCertLifetime,
		LossBearer:   PayerBank,
		UploadGrace:  DefaultUploadGrace,
	}
}

// Validate reports the first value out of range.
func (p Policy) Validate() error {
	if err := p.Limits.Validate(); err != nil {
		return err
	}
	switch {
	case p.PaymentCap > MaxPolicyCap || p.PurseCap > MaxPolicyCap:
		return broken(ErrInvalidPolicy, "caps above %d yen are refused", int64(MaxPolicyCap))
	case p.CertLifetime < MinCertLifetime:
		return broken(ErrInvalidPolicy, "certificate lifetime %v is under %v", p.CertLifetime, MinCertLifetime)
	case p.LossBearer != PayerBank && p.LossBearer != Payee && p.LossBearer != Guarantee:
		return broken(ErrInvalidPolicy, "loss bearer %d is not payer-bank (1), payee (2) or guarantee (3)", p.LossBearer)
	case p.UploadGrace < 0:
		return broken(ErrInvalidPolicy, "upload grace %v is negative", p.UploadGrace)
	}
	return nil
}

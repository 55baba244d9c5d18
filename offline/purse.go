package offline

import (
	"crypto/ed25519"
	"crypto/rand"
	"slices"
	"time"
)

// Purse emulates the secure element of an offline wallet: a key of its
// own, a balance, a monotonic counter, the hash of its last voucher, and
// logs of the vouchers it sent and received that it has not yet synced.
//
// A genuine secure element cannot be copied or rolled back; this one can,
// on purpose (Save, LoadPurse, ForgeBalance), so scenarios can play the
// attacks reconciliation must catch. A Purse is not safe for concurrent use.
type Purse struct {
	key   ed25519.PrivateKey
	root  ed25519.PublicKey
	chain *Chain

	balance    int64 // spendable
	pending    int64 // staged mode: received, spendable once settled online
	counter    uint64
	last       Hash
	synced     uint64      // counter at the last sync
	receipt    SyncReceipt // the ledger's receipt for synced, carried by every voucher after it
	fundingSeq uint64      // every funding up to this one is applied
	fundedPast []uint64    // fundings applied past fundingSeq, ascending
	received   uint64      // how many vouchers it has received, ever
	crl        *RevocationList

	open map[Nonce]PaymentRequest // requests it made as payee, not yet paid
	seen map[Serial]seenPayer     // the latest voucher seen from each payer

	sent, inbox []Voucher // not yet acknowledged by a sync receipt
}

type seenPayer struct {
	counter uint64
	hash    Hash
}

// MaxOpenRequests bounds the payment requests a purse waits on at once.
const MaxOpenRequests = 64

// NewPurse makes an empty purse with a fresh key. root is the central
// bank's key, which the purse trusts for bank certificates and revocation
// lists.
func NewPurse(root ed25519.PublicKey) (*Purse, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Purse{key: key, root: root, open: map[Nonce]PaymentRequest{}, seen: map[Serial]seenPayer{}}, nil
}

// PublicKey is the key the bank certifies.
func (p *Purse) PublicKey() ed25519.PublicKey { return p.key.Public().(ed25519.PublicKey) }

// Install takes the device certificate the bank issued for this purse.
func (p *Purse) Install(ch Chain, now time.Time) error {
	if err := ch.Verify(p.root, now); err != nil {
		return err
	}
	if !ch.Device.Key.Equal(p.PublicKey()) {
		return broken(ErrWrongDevice, "certificate %s is for another key", ch.Device.Serial)
	}
	if p.chain != nil && p.chain.Device.Serial != ch.Device.Serial {
		return broken(ErrWrongDevice, "purse is %s, certificate is for %s", p.chain.Device.Serial, ch.Device.Serial)
	}
	p.chain = &ch
	return nil
}

// Chain returns the purse's certificates, or nil before Install.
func (p *Purse) Chain() *Chain { return p.chain }

// Serial is the purse's serial, zero before Install.
func (p *Purse) Serial() Serial {
	if p.chain == nil {
		return Serial{}
	}
	return p.chain.Device.Serial
}

// Balance is what the purse can spend.
func (p *Purse) Balance() int64 { return p.balance }

// Pending is value received in staged mode that settles to the online
// wallet rather than the purse.
func (p *Purse) Pending() int64 { return p.pending }

// Counter is the counter of the purse's last voucher.
func (p *Purse) Counter() uint64 { return p.counter }

// Last is the hash of the purse's last voucher, zero before its first.
func (p *Purse) Last() Hash { return p.last }

// SinceSync is how many vouchers the purse made since its last sync.
func (p *Purse) SinceSync() uint64 { return p.counter - p.synced }

// Revocations is the cached revocation list, or nil.
func (p *Purse) Revocations() *RevocationList { return p.crl }

func (p *Purse) limits() (Limits, error) {
	if p.chain == nil {
		return Limits{}, ErrNotProvisioned
	}
	return p.chain.Device.Limits, nil
}

// Fund applies the bank's receipt for value moved into the purse's escrow.
// Receipts apply once each, in any order.
func (p *Purse) Fund(f FundingReceipt) error {
	if p.chain == nil {
		return ErrNotProvisioned
	}
	if f.Serial != p.Serial() {
		return broken(ErrWrongDevice, "funding receipt is for %s, purse is %s", f.Serial, p.Serial())
	}
	if err := f.Verify(p.chain.Bank.Key); err != nil {
		return err
	}
	if f.Seq <= p.fundingSeq || slices.Contains(p.fundedPast, f.Seq) {
		return broken(ErrStaleReceipt, "funding receipt %d was already applied", f.Seq)
	}
	if len(p.fundedPast) >= MaxFundingsAhead && f.Seq != p.fundingSeq+1 {
		return broken(ErrStaleReceipt, "funding receipt %d is %d fundings ahead of %d, the first not yet applied", f.Seq, len(p.fundedPast), p.fundingSeq+1)
	}
	if p.balance > maxAmount-f.Amount {
		return broken(ErrPurseCap, "balance would overflow")
	}
	p.balance += f.Amount
	p.fundedPast = append(p.fundedPast, f.Seq)
	slices.Sort(p.fundedPast)
	for len(p.fundedPast) > 0 && p.fundedPast[0] == p.fundingSeq+1 {
		p.fundingSeq, p.fundedPast = p.fundedPast[0], p.fundedPast[1:]
	}
	return nil
}

// MaxFundingsAhead bounds the funding receipts a purse holds past one it
// has not yet seen, so its saved state stays small.
const MaxFundingsAhead = 64

const maxAmount = int64(^uint64(0) >> 1)

// Request makes a payment request as payee, for a payer to answer.
func (p *Purse) Request(amount int64, now time.Time) (PaymentRequest, error) {
	lim, err := p.limits()
	if err != nil {
		return PaymentRequest{}, err
	}
	switch {
	case amount <= 0:
		return PaymentRequest{}, broken(ErrInvalidAmount, "got %d", amount)
	case amount > lim.PurseCap-p.balance-p.pending:
		return PaymentRequest{}, broken(ErrPurseCap, "purse holds %d of its %d yen cap and cannot take %d more", p.balance+p.pending, lim.PurseCap, amount)
	case len(p.open) >= MaxOpenRequests:
		return PaymentRequest{}, broken(ErrUnknownRequest, "%d payment requests are already open", len(p.open))
	}
	q := PaymentRequest{Payee: p.Serial(), Amount: amount, Time: now.Truncate(time.Millisecond)}
	if _, err := rand.Read(q.Nonce[:]); err != nil {
		return PaymentRequest{}, err
	}
	p.open[q.Nonce] = q
	return q, nil
}

// CancelRequest forgets an open payment request.
func (p *Purse) CancelRequest(n Nonce) { delete(p.open, n) }

// Pay answers a payment request with a voucher and lowers the balance.
func (p *Purse) Pay(q PaymentRequest, now time.Time) (Voucher, error) {
	lim, err := p.limits()
	if err != nil {
		return Voucher{}, err
	}
	switch {
	case q.Amount <= 0:
		return Voucher{}, broken(ErrInvalidAmount, "got %d", q.Amount)
	case q.Payee.IsZero() || q.Payee == p.Serial():
		return Voucher{}, broken(ErrWrongPayee, "a purse pays another purse, not %s", q.Payee)
	case q.Amount > lim.PaymentCap:
		return Voucher{}, broken(ErrPaymentCap, "%d yen is over the %d yen per-payment cap", q.Amount, lim.PaymentCap)
	case p.counter-p.synced >= uint64(lim.PaymentsBeforeSync):
		return Voucher{}, broken(ErrSyncRequired, "%d offline payments since the last sync; the limit is %d", p.counter-p.synced, lim.PaymentsBeforeSync)
	}
	if err := p.chain.ValidAt(now); err != nil {
		return Voucher{}, err
	}
	return p.spend(q.Payee, q.Amount, q.Nonce, now)
}

// Defund makes the voucher that returns amount yen from the purse to its
// owner's online wallet. The purse must have synced every voucher it made,
// so the bank sees its whole history before releasing escrow.
func (p *Purse) Defund(amount int64, now time.Time) (Voucher, error) {
	if p.chain == nil {
		return Voucher{}, ErrNotProvisioned
	}
	if p.counter != p.synced {
		return Voucher{}, broken(ErrSyncRequired, "sync the %d vouchers made since the last sync before defunding", p.counter-p.synced)
	}
	if amount <= 0 {
		return Voucher{}, broken(ErrInvalidAmount, "got %d", amount)
	}
	var n Nonce
	if _, err := rand.Read(n[:]); err != nil {
		return Voucher{}, err
	}
	return p.spend(Serial{}, amount, n, now)
}

func (p *Purse) spend(payee Serial, amount int64, n Nonce, now time.Time) (Voucher, error) {
	if amount > p.balance {
		return Voucher{}, broken(ErrInsufficientFunds, "purse holds %d yen, needs %d", p.balance, amount)
	}
	v := Voucher{Chain: *p.chain, Payer: p.Serial(), Counter: p.counter + 1, Prev: p.last, Synced: p.synced,
		Payee: payee, Amount: amount, Nonce: n, Time: now.Truncate(time.Millisecond)}
	if p.synced > 0 {
		v.Receipt = p.receipt
	}
	copy(v.Signature[:], ed25519.Sign(p.key, v.SignedBytes()))
	p.counter, p.last = v.Counter, v.Hash()
	p.balance -= amount
	p.sent = append(p.sent, v)
	return v, nil
}

package offline

// Outcome is what reconciliation did with one uploaded voucher.
type Outcome string

const (
	// Settled: the payee was credited, from escrow and, where the escrow fell
	// short, as the loss policy says.
	Settled Outcome = "settled"
	// Pending: the voucher is genuine but its payer's escrow cannot cover it
	// yet; in intermittent mode value the payer received may still arrive.
	Pending Outcome = "pending"
	// Rejected: nothing settles; Reason says why.
	Rejected Outcome = "rejected"
	// Duplicate: this very voucher was uploaded before; its first outcome
	// stands and nothing is applied twice.
	Duplicate Outcome = "duplicate"
)

// Reasons a voucher is rejected.
const (
	ReasonMalformed    = "malformed"     // bytes do not decode as a voucher
	ReasonForged       = "forged"        // the chain or the payer's signature does not verify
	ReasonNotUploaders = "not_uploaders" // a sent voucher of another payer, or a received one for another payee
	ReasonUnknownPayee = "unknown_payee" // no registered device has the payee serial
)

// ConflictKind names a way a device broke the offline rules.
type ConflictKind string

const (
	// DoubleSpend: two different vouchers with one payer and counter, made by
	// a cloned or rolled-back purse.
	DoubleSpend ConflictKind = "double_spend"
	// ChainFork: a voucher's previous-voucher hash differs from the hash of
	// the payer's voucher with the counter before it.
	ChainFork ConflictKind = "chain_fork"
	// Overspend: the payer's vouchers add up to more than its escrow ever held.
	Overspend ConflictKind = "overspend"
	// ExpiredCertificate: the payer paid outside its certificate's validity,
	// which a genuine purse refuses to do.
	ExpiredCertificate ConflictKind = "expired_certificate"
	// Forgery: the uploading device presented a voucher whose signature or
	// chain does not verify; an honest payee never accepts one.
	Forgery ConflictKind = "forgery"
	// Retired is no broken rule but the other reason a device is revoked:
	// its owner reported it lost or stolen.
	Retired ConflictKind = "retired"
)

// ChainConflict compares a voucher with what is known of its payer's
// neighbouring vouchers: prev is the hash of the known voucher with the
// counter before (nil if unknown), nextPrev the Prev field of the known
// voucher with the counter after (nil if unknown). It reports whether the
// chain forks at this voucher.
func ChainConflict(v *Voucher, prev, nextPrev *Hash) bool {
	if prev != nil && *prev != v.Prev {
		return true
	}
	return nextPrev != nil && *nextPrev != v.Hash()
}

// Split divides a voucher's amount between the payer's escrow and the loss
// policy. available is what the escrow can still give (never negative).
// payeeAtFault marks vouchers the payee should have refused offline (an
// expired certificate), whose shortfall the payee bears whatever the policy.
// It returns what the escrow pays, what the bearer pays, and what the payee
// goes without.
func Split(amount, available int64, bearer Bearer, payeeAtFault bool) (fromEscrow, fromBearer, payeeLoss int64) {
	fromEscrow = min(amount, max(available, 0))
	short := amount - fromEscrow
	if short == 0 {
		return fromEscrow, 0, 0
	}
	if payeeAtFault || bearer == Payee {
		return fromEscrow, 0, short
	}
	return fromEscrow, short, 0
}

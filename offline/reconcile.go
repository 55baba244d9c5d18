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
	// ReasonPayeeFault: genuine, but an honest payee refuses it (over a cap,
	// beyond its payer's sync count, dated outside its certificate, with
	// limits the policy forbids); its payee bears it and nothing moves.
	ReasonPayeeFault = "payee_should_have_refused"
	// ReasonLate: genuine, but handed in after its certificate's expiry
	// and the upload grace; its payee bears it and nothing moves.
	ReasonLate = "late"
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
	// RuleBreach: the payer signed a voucher a genuine purse never makes:
	// over a cap, beyond its count of payments since its last sync, dated
	// outside its certificate, or not following its sync receipt's voucher.
	RuleBreach ConflictKind = "rule_breach"
	// Forgery: the uploading device presented a voucher whose signature or
	// chain does not verify; an honest payee never accepts one.
	Forgery ConflictKind = "forgery"
	// BankCertificate: a bank's key certified a device the bank never
	// registered at the ledger under that serial and key (a device of its
	// own it did not declare, or an impostor of another bank's device). The
	// conflict names the bank; it pays every voucher of that certificate.
	BankCertificate ConflictKind = "bank_certificate"
	// AcceptedInvalid: a payee handed in, as received, a voucher an honest
	// payee refuses. It is not revoked for it, but it bears the voucher's
	// value, and the report marks it: a sign it colludes with the payer.
	AcceptedInvalid ConflictKind = "accepted_invalid"
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

package settlement

import (
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// VoucherResult is what reconciliation did with one voucher, so far: a
// settled voucher whose payer's escrow fell short may still be made good
// (its payee paid, or its bearer repaid) when value reaches that escrow.
type VoucherResult struct {
	Hash    offline.Hash
	Payer   offline.Serial
	Counter uint64
	Payee   offline.Serial // zero for a defund to the payer's own wallet
	Amount  int64
	Outcome offline.Outcome
	Reason  string // why it was rejected or is pending; "" when settled
	Fault   string // for ReasonPayeeFault: the offline check an honest payee refuses it by

	PayeeAccount ledger.AccountID
	FromEscrow   int64            // paid out of the payer's escrow
	FromBearer   int64            // paid by a bank or the guarantee fund in the escrow's stead
	Bearer       ledger.AccountID // the account that paid FromBearer
	PayeeLoss    int64            // what the payee goes without
	Seq          uint64           // the last ledger record that moved money for it
}

// Conflict is a broken rule attributed to one device, or for a certificate
// its bank never registered, to that bank, with the vouchers that prove it.
type Conflict struct {
	Seq      uint64
	Kind     offline.ConflictKind
	Device   offline.Serial
	Bank     ledger.AccountID // the bank blamed, for BankCertificate; else the device's bank
	Evidence []offline.Hash   // the vouchers involved; for a forgery, digests of the uploaded bytes
	Detail   string
	Time     time.Time
	Revokes  bool // whether it revoked Device (AcceptedInvalid does not)
}

// Report is the outcome of one upload, or of closing the settlement window.
type Report struct {
	Device    offline.Serial
	Vouchers  []VoucherResult
	Conflicts []Conflict
	Revoked   []offline.Serial // devices this upload caused to be revoked

	// SyncedThrough: the ledger holds the uploading device's vouchers with
	// every counter from 1 to this.
	SyncedThrough uint64
	// Receipt is the ledger's sync receipt for the uploading device, signed
	// by the root key: its counter resets the purse's count of payments
	// only when the device is in good standing and its escrow, with the
	// value on its way to it, covers what it paid.
	Receipt offline.SyncReceipt

	Settled, Pending, Rejected, Duplicate int
	SettledAmount                         Sum             // paid to payees by this upload's settlements
	Freed                                 []VoucherResult // vouchers of earlier uploads that this one let settle
}

func (r *Report) add(v VoucherResult) {
	switch v.Outcome {
	case offline.Settled:
		r.Settled++
		r.SettledAmount = r.SettledAmount.Add(v.FromEscrow).Add(v.FromBearer)
	case offline.Pending:
		r.Pending++
	case offline.Rejected:
		r.Rejected++
	case offline.Duplicate:
		r.Duplicate++
	}
	r.Vouchers = append(r.Vouchers, v)
}

// Summary is the state of offline settlement for the whole sandbox. Its
// amounts are Sums, which cannot overflow.
type Summary struct {
	Vouchers, Settled, Pending, Rejected int
	SettledAmount, PendingAmount         Sum
	Devices, RevokedDevices              int
	Conflicts                            map[offline.ConflictKind]int
	// LossByBearer is what each bank and the guarantee fund has paid for
	// vouchers their payers' escrow did not cover, less what later value
	// in those escrows paid back. Advanced is the part of it paid for
	// payers not yet judged, which their escrow may still repay.
	LossByBearer map[ledger.AccountID]Sum
	Advanced     Sum
	// LossByPayees is what payees went without under the payee policy,
	// counted once where a shortfall began: a payee that passed it on to
	// its own payees does not count it again. RefusedAmount is the value
	// of vouchers an honest payee refuses (and late ones), which their
	// payees bear in full.
	LossByPayees  Sum
	RefusedAmount Sum
	RevocationSeq uint64
}

// result is the entry's line in a report.
func (e *entry) result() VoucherResult {
	r := VoucherResult{Hash: e.hash, Payer: e.v.Payer, Counter: e.v.Counter, Payee: e.v.Payee, Amount: e.v.Amount,
		Outcome: e.outcome(), Reason: e.reason, Fault: e.fault, PayeeAccount: e.payee, FromEscrow: e.fromEscrow,
		FromBearer: e.fromBearer, PayeeLoss: e.payeeLoss, Seq: e.seq}
	if e.fromBearer > 0 {
		r.Bearer = e.bearer
	}
	switch {
	case r.Outcome == offline.Settled:
		r.Reason = ""
	case r.Outcome == offline.Pending && r.Reason == "":
		r.Reason = "waiting_for_escrow"
	}
	return r
}

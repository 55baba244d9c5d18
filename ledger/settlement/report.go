package settlement

import (
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// VoucherResult is what reconciliation did with one voucher.
type VoucherResult struct {
	Hash    offline.Hash
	Payer   offline.Serial
	Counter uint64
	Payee   offline.Serial // zero for a defund to the payer's own wallet
	Amount  int64
	Outcome offline.Outcome
	Reason  string // why it was rejected or is pending; "" when settled

	PayeeAccount ledger.AccountID
	FromEscrow   int64            // paid out of the payer's escrow
	FromBearer   int64            // paid by the loss bearer
	Bearer       ledger.AccountID // the account that bore FromBearer
	PayeeLoss    int64            // what the payee goes without
	Seq          uint64           // the ledger record that settled it
}

// Conflict is a broken rule attributed to one device, with the vouchers
// that prove it.
type Conflict struct {
	Seq      uint64
	Kind     offline.ConflictKind
	Device   offline.Serial
	Evidence []offline.Hash // the vouchers involved; for a forgery, digests of the uploaded bytes
	Detail   string
	Time     time.Time
}

// Report is the outcome of one upload, or of closing the settlement window.
type Report struct {
	Device    offline.Serial
	Vouchers  []VoucherResult
	Conflicts []Conflict
	Revoked   []offline.Serial // devices this upload caused to be revoked

	// SyncedThrough: the ledger holds the uploading device's vouchers with
	// every counter from 1 to this, so a sync receipt may vouch for them.
	SyncedThrough uint64

	Settled, Pending, Rejected, Duplicate int
	SettledAmount                         int64           // paid to payees by this upload's settlements
	Freed                                 []VoucherResult // pending vouchers of earlier uploads that this one let settle
}

func (r *Report) add(v VoucherResult) {
	switch v.Outcome {
	case offline.Settled:
		r.Settled++
		r.SettledAmount += v.FromEscrow + v.FromBearer
	case offline.Pending:
		r.Pending++
	case offline.Rejected:
		r.Rejected++
	case offline.Duplicate:
		r.Duplicate++
	}
	r.Vouchers = append(r.Vouchers, v)
}

// Summary is the state of offline settlement for the whole sandbox.
type Summary struct {
	Vouchers, Settled, Pending, Rejected int
	SettledAmount, PendingAmount         int64
	Devices, RevokedDevices              int
	Conflicts                            map[offline.ConflictKind]int
	LossByBearer                         map[ledger.AccountID]int64 // paid by banks and the guarantee fund
	LossByPayees                         int64                      // what payees went without
	RevocationSeq                        uint64
}

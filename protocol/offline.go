package protocol

import (
	"encoding/hex"
	"time"
)

// Offline purses. Purse objects (certificates, receipts, vouchers,
// revocation lists) travel in their binary encodings from package offline,
// base64 in JSON; docs/offline.md describes them byte by byte.

// MaxSyncVouchers bounds the vouchers one purse_sync carries, so a message
// stays within MaxMessageBytes; a purse with more syncs in several messages.
const MaxSyncVouchers = 64

// PurseProvision asks the bank to certify a purse key for this wallet.
type PurseProvision struct {
	PublicKey []byte `json:"public_key"` // the purse's own ed25519 key, not the wallet's
	Signature []byte `json:"signature"`
}

// OfflinePolicy is the sandbox's offline policy as a wallet sees it.
type OfflinePolicy struct {
	Mode               string `json:"mode"` // staged or intermittent
	PaymentCap         int64  `json:"payment_cap"`
	PurseCap           int64  `json:"purse_cap"`
	PaymentsBeforeSync uint32 `json:"payments_before_sync"`
	LossBearer         string `json:"loss_bearer"` // payer-bank, payee or guarantee
}

// PurseCertificates answers purse_provision: what the purse installs.
type PurseCertificates struct {
	Serial      string        `json:"serial"`
	Escrow      string        `json:"escrow"`      // the purse's escrow account at the central ledger
	BankCert    []byte        `json:"bank_cert"`   // signed by the root key
	DeviceCert  []byte        `json:"device_cert"` // signed by the bank
	RootKey     []byte        `json:"root_key"`    // the central bank's key the purse trusts
	Revocations []byte        `json:"revocations"` // the current revocation list
	Policy      OfflinePolicy `json:"policy"`
}

// PurseFund moves money from the wallet into its purse's escrow.
type PurseFund struct {
	Serial    string `json:"serial"`
	Amount    int64  `json:"amount"`
	Signature []byte `json:"signature"`
}

// PurseFunded answers purse_fund with the receipt the purse applies.
type PurseFunded struct {
	Serial  string    `json:"serial"`
	Amount  int64     `json:"amount"`
	Escrow  int64     `json:"escrow"`  // the escrow balance after funding
	Receipt []byte    `json:"receipt"` // a funding receipt signed by the bank
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
}

// PurseSync uploads what a purse sent and received since its last sync.
// A defund is a sync whose sent vouchers end with the purse's defund voucher.
type PurseSync struct {
	Serial         string `json:"serial"`
	Counter        uint64 `json:"counter"`         // the purse's counter now
	ReceivedBefore uint64 `json:"received_before"` // vouchers received before received[0]
	// ReceivedTotal is how many vouchers the purse has received in all;
	// with counter, the purse's account of itself, by which the ledger
	// judges an intermittent purse. Left out, the ledger judges it only
	// once its vouchers can no longer arrive.
	ReceivedTotal *uint64  `json:"received_total,omitempty" wire:"optional"`
	Sent          [][]byte `json:"sent" wire:"optional"` // voucher encodings, in counter order
	Received      [][]byte `json:"received" wire:"optional"`
}

// VoucherOutcome is what reconciliation did with one voucher.
type VoucherOutcome struct {
	Hash       string `json:"hash"`
	Payer      string `json:"payer"`
	Counter    uint64 `json:"counter"`
	Payee      string `json:"payee"` // a serial; empty for a defund
	Amount     int64  `json:"amount"`
	Outcome    string `json:"outcome"` // settled, pending, rejected or duplicate
	Reason     string `json:"reason,omitempty"`
	Fault      string `json:"fault,omitempty"` // for payee_should_have_refused: the check an honest payee refuses it by
	FromEscrow int64  `json:"from_escrow,omitempty"`
	FromBearer int64  `json:"from_bearer,omitempty"`
	Bearer     string `json:"bearer,omitempty"`
	PayeeLoss  int64  `json:"payee_loss,omitempty"`
}

// OfflineConflict is a broken offline rule attributed to a device.
type OfflineConflict struct {
	Kind     string   `json:"kind"`
	Device   string   `json:"device"`
	Bank     string   `json:"bank,omitempty"` // for bank_certificate: the bank blamed
	Detail   string   `json:"detail"`
	Evidence []string `json:"evidence"` // voucher hashes
	Revokes  bool     `json:"revokes"`  // false for accepted_invalid, which only marks the payee
}

// PurseSynced answers purse_sync.
type PurseSynced struct {
	Receipt       []byte            `json:"receipt"`               // the central ledger's sync receipt, signed by the root key
	DeviceCert    []byte            `json:"device_cert,omitempty"` // a renewed device certificate for the purse to install
	Settled       int               `json:"settled"`
	Pending       int               `json:"pending"`
	Rejected      int               `json:"rejected"`
	Duplicate     int               `json:"duplicate"`
	SettledAmount int64             `json:"settled_amount"`
	Vouchers      []VoucherOutcome  `json:"vouchers"`
	Conflicts     []OfflineConflict `json:"conflicts,omitempty"`
	Escrow        int64             `json:"escrow"`         // the purse's escrow balance now
	RevocationSeq uint64            `json:"revocation_seq"` // fetch revocations when newer than the purse's
}

// PurseRetire reports the wallet's purse lost or stolen: the bank has it
// revoked, so payees refuse it, and the value it held or is still paid
// comes back to the wallet.
type PurseRetire struct {
	Serial    string `json:"serial"`
	Signature []byte `json:"signature"`
}

// PurseRetired answers purse_retire.
type PurseRetired struct {
	Serial string `json:"serial"`
	Escrow int64  `json:"escrow"` // still in escrow; it returns to the wallet when the settlement window closes
}

// RevocationsResult answers revocations.
type RevocationsResult struct {
	Seq  uint64 `json:"seq"`
	List []byte `json:"list"` // signed by the root key
}

func (m *PurseProvision) SignedFields() []string { return []string{hex.EncodeToString(m.PublicKey)} }
func (m *PurseFund) SignedFields() []string      { return []string{m.Serial, amount(m.Amount)} }
func (m *PurseProvision) Sig() []byte            { return m.Signature }
func (m *PurseFund) Sig() []byte                 { return m.Signature }
func (m *PurseProvision) SetSig(s []byte)        { m.Signature = s }
func (m *PurseFund) SetSig(s []byte)             { m.Signature = s }
func (m *PurseRetire) SignedFields() []string    { return []string{m.Serial} }
func (m *PurseRetire) Sig() []byte               { return m.Signature }
func (m *PurseRetire) SetSig(s []byte)           { m.Signature = s }

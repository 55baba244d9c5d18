package bankadmin

import (
	"crypto/ed25519"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// CustomerSpec is what the bank's KYC established about a new customer:
// the body of POST /admin/customers.
type CustomerSpec struct {
	Name     string `json:"name"`
	PersonID string `json:"person_id"` // the identity checked at onboarding, such as a My Number; stays at the bank

	// Unverified marks a customer who registered from a wallet, whose
	// person id nobody checked. Such a customer gets a holder token of its
	// own rather than one derived from the person id: otherwise anyone who
	// knew a person's id number could register as them and read, or fill,
	// their holdings across banks. Its wallets are held to their own limit.
	// The admin API onboards checked customers only, so it is never sent.
	Unverified bool                `json:"-"`
	Tier       string              `json:"tier,omitempty"`               // "" means the first tier
	Deposit    int64               `json:"deposit,omitempty" unit:"yen"` // opening balance of the linked deposit account
	PublicKeys []ed25519.PublicKey `json:"public_keys"`
}

// CustomerInfo is a customer as the bank's operator sees it.
type CustomerInfo struct {
	ID      string        `json:"id"`
	Name    string        `json:"name"`
	Tier    protocol.Tier `json:"tier"`
	Deposit int64         `json:"deposit"`
	Wallets []WalletInfo  `json:"wallets"`
}

// WalletInfo is one of a customer's wallets.
type WalletInfo struct {
	Address    string `json:"address"`
	PublicKey  []byte `json:"public_key"`
	Waterfall  bool   `json:"waterfall"`
	AutoCharge bool   `json:"auto_charge"`
}

// CustomerPage is the answer of GET /admin/customers: customers in the
// order they were opened, fewer than the limit (or none) on the last page.
type CustomerPage struct {
	Customers []CustomerInfo `json:"customers"`
}

// WalletRequest is the body of POST /admin/customers/{id}/wallets.
type WalletRequest struct {
	PublicKey ed25519.PublicKey `json:"public_key"`
}

// TierRequest is the body of PUT /admin/customers/{id}/tier.
type TierRequest struct {
	Tier string `json:"tier"`
}

// DepositCreditRequest is the body of POST /admin/customers/{id}/deposit.
type DepositCreditRequest struct {
	RequestID string `json:"request_id"`
	Amount    int64  `json:"amount" unit:"yen"`
}

// DepositCredit is money paid into a customer's deposit account from
// outside the sandbox, as the operator booked it.
type DepositCredit struct {
	RequestID string    `json:"request_id"` // the operator's id for the credit
	Customer  string    `json:"customer"`
	Amount    int64     `json:"amount"`
	Deposit   int64     `json:"deposit"` // the deposit account's balance just after the credit
	Time      time.Time `json:"time"`
}

// FloatRequest is the body of POST /admin/float/issue and
// /admin/float/redeem.
type FloatRequest struct {
	// RequestID, when the operator gives one, makes asking again after a
	// lost answer move the float once. A pointer, because an empty id sent
	// is a mistake the bank refuses, not the same as none.
	RequestID *string `json:"request_id,omitempty"`
	Amount    int64   `json:"amount" unit:"yen"`
}

// Status is the bank's position: its float at the ledger, its reserves
// and its customers' deposits. Books = reserves + float − deposits +
// offline losses does not change with anything customers do (payments,
// withdrawals, deposits, sweeps, auto-charges) nor with issuing and
// redeeming float, nor with money paid in from outside: a new customer's
// opening deposit and a credit to a deposit account raise reserves and
// deposits together. A test or an operator that sees it move has found
// money created or lost.
type Status struct {
	Bank           string `json:"bank"`
	Float          int64  `json:"float"`
	Reserves       int64  `json:"reserves"`
	Deposits       int64  `json:"deposits"`
	OfflineLosses  int64  `json:"offline_losses"` // paid to payees for its devices' offline overspends
	Books          int64  `json:"books"`
	Customers      int    `json:"customers"`
	Wallets        int    `json:"wallets"`
	PendingIntents int    `json:"pending_intents"`
	FeedCursor     uint64 `json:"feed_cursor"`
	Connections    int    `json:"connections"`
}

// AppWallet is a wallet that has opened a session from a browser (the
// bank's wallet app, on a phone in the room) since the bank started: what
// the presenter's panel of phones shows of it. GET /admin/app-wallets
// lists them in the order they first signed in.
type AppWallet struct {
	Address string    `json:"address"`
	Name    string    `json:"name,omitempty"` // its customer's
	Online  bool      `json:"online"`         // a session from the browser is open now
	Joined  time.Time `json:"joined"`         // its first such session since the bank started
	Seen    time.Time `json:"seen"`           // its last instruction, or when its last session ended
	// Last is the type of its last instruction (docs/protocol.md) other
	// than a read that succeeded (balance, history, requests, schedules,
	// revocations), and LastCode that instruction's error code, "" when
	// it succeeded.
	Last     string `json:"last,omitempty"`
	LastCode string `json:"last_code,omitempty"`
	Paid     int    `json:"paid"`      // payments it made online (pay, approve)
	Funded   int64  `json:"funded"`    // yen moved into its offline purse
	Synced   int    `json:"synced"`    // its purse's syncs
	HandedIn int    `json:"handed_in"` // vouchers those syncs handed in, paid or received
	// Settled counts the offline vouchers the central ledger settled into
	// the wallet, whichever party handed them in, and Received the yen
	// they brought.
	Settled  int   `json:"settled"`
	Received int64 `json:"received"`
	Refused  int   `json:"refused"` // instructions answered with an error
}

// AppWalletList is the answer of GET /admin/app-wallets.
type AppWalletList struct {
	Wallets []AppWallet `json:"wallets"`
}

// Package settlement settles offline vouchers on the central ledger.
//
// It owns, next to the ledger's own files, the settlement index (every
// voucher seen and what it has paid, the registry of offline devices with
// the certificates their banks registered, the conflicts found, and the
// ledger operations decided and not yet confirmed) and the root key that
// certifies banks, signs sync receipts and revocation lists. Money moves
// only through the ledger: each settlement is a central-bank operation
// whose id derives from the voucher it settles, stored before it is sent,
// so it applies exactly once, after lost answers and crashes too.
//
// # Basics
//
// Intermediaries certify devices with keys the root has certified
// (CertifyBank), register each device and its escrow account, and renew
// its certificate (RegisterDevice), fund escrow with ordinary ledger
// transfers, and hand in what purses upload (Reconcile), passing on the
// ledger's sync receipt. Uploads from payers and payees arrive in any
// order, partial or repeated, at different banks. Each voucher is judged
// as an honest payee would judge it: one a payee should have refused
// draws on nobody; one under a certificate its bank never registered is
// that bank's to pay; the rest take their payer's escrow in counter order,
// and what an escrow cannot cover is borne as the policy says once the
// shortfall is certain. CloseWindow settles cycles of waiting payers by
// netting, advances what still waits where a bank or the guarantee fund
// bears losses, decides what the deadlines make certain, and returns the
// escrow of revoked devices once nothing of theirs can arrive.
//
// # Caveats
//
// Only the central bank moves money out of escrow (the ledger enforces
// it), so a bank defunds a purse by reconciling the purse's defund
// voucher. One goroutine owns the state and runs every change in rounds
// (engine.go); readers share a lock with it. Under the payee policy, which
// payee of a double-spent counter goes short depends on which voucher
// arrived first (docs/offline.md explains why no settlement before the
// deadline can avoid it). The index lives in memory as well as on disk, at
// about 700 bytes per voucher.
package settlement

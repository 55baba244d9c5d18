// Package settlement settles offline vouchers on the central ledger.
//
// It owns, next to the ledger's own files, the settled-voucher index (every
// voucher seen, keyed by its hash, and which voucher holds each payer and
// counter), the registry of offline devices and their escrow accounts, the
// conflicts found and the revocation list. Money moves only through the
// ledger: a voucher settles as one central-bank batch whose operation id is
// derived from the voucher's hash, so it applies exactly once, after lost
// answers and crashes too.
//
// # Basics
//
// Intermediaries certify devices with keys the root has certified
// (CertifyBank), register each device and its escrow account
// (RegisterDevice), fund escrow with ordinary ledger transfers, and hand in
// what purses upload (Reconcile). Uploads from payers and payees arrive in
// any order, partial or repeated, at different banks; each voucher settles
// once from its payer's escrow to its payee. The rules for deciding come
// from package offline; this package keeps the state and moves the money.
//
// # Caveats
//
// Only the central bank moves money out of escrow (the ledger enforces it),
// so a bank defunds a purse by reconciling the purse's defund voucher.
// Pending vouchers wait for value their payer may still receive; the
// central bank ends the wait with CloseWindow, which treats what is still
// short as an overspend, unless it is no more than what the payer itself
// lost as a payee (a loss passed on, under payee-bears). When value flows
// back to an overspender, so that pending vouchers wait on each other in a
// cycle, the outcome may depend on the order uploads came in. The index
// lives in memory as well as on disk, at about 600 bytes per voucher.
package settlement

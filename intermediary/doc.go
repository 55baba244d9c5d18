// Package intermediary is the second tier: a bank that onboards customers,
// authenticates their wallets, enforces holding and payment limits, sweeps
// to and from linked deposit accounts, and carries payments to the central
// ledger. Personal data stays here; the ledger sees pseudonymous accounts.
package intermediary

// Package offline holds the formats and rules of offline payments: device
// certificates, signed vouchers, their verification and the reconciliation
// rules that settle them or attribute a double spend to a device.
//
// It is pure: it does no I/O and keeps no storage, so the ledger, the
// intermediaries and the wallets can all apply the same rules.
package offline

// Package sandbox runs the two tiers in one process: the central ledger
// with its offline settlement (OpenCentral), intermediary banks serving
// wallets and their admin API (StartBank), or both together (Open). It is
// what `cbdc sandbox`, `cbdc ledger` and `cbdc bank` run, and where the
// secrets the tiers share at set-up are made and kept.
package sandbox

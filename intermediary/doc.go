// Package intermediary is the second tier: a bank that onboards customers,
// authenticates their wallets, enforces holding and payment limits, sweeps
// to and from linked deposit accounts, and carries payments to the central
// ledger. Personal data stays here; the ledger sees pseudonymous accounts.
//
// # Basics
//
// A Bank is the domain: it answers a signed-in wallet's requests
// (Bank.Answer), runs its operator's commands (Onboard, SetTier,
// MoveFloat...) and tells connected wallets what happened through a
// Notifier. Package intermediary/gateway serves it: the wallet websocket
// (protocol.Path), the admin HTTP API and the health probes; it implements
// the Notifier. The bank reaches the central ledger through the Ledger
// interface, which *ledger.Intermediary implements in one process and
// *ledgerhttp.Client over the network.
//
// Customers have a KYC tier (holding and per-payment limits), a simulated
// deposit account (commercial-bank money, not CBDC) and wallets, each an
// ed25519 key whose ledger account is named by its address. The ledger sees
// only the address and a holder token derived from the person's identity
// under a key the banks share, so one person's wallets at several banks are
// held to one holding limit without the ledger learning who they are.
//
// Payments settle on the central ledger in one operation whose id is
// derived from the wallet and its request id, so a retried instruction is
// never applied twice. Moves between a deposit account and CBDC are booked
// as intents in the bank's bbolt file before they reach the ledger, and
// resolved after a crash. The bank follows the ledger's feed of records
// that concern it, to credit deposit accounts for deposits and waterfall
// sweeps, to mark payment requests paid and to push notifications.
//
// # Faults
//
// A ledger error the bank cannot read as the ledger's refusal (no answer,
// a ledger that stopped or cannot store) is an unknown outcome: the wallet
// is answered unavailable, with the network client's retry hint when it
// has one, and retries with the same request id. /readyz answers at once
// from what the bank knows: whether the ledger client's circuit is closed,
// what the ledger's own /readyz said at the last look (every ReadyEvery),
// and whether the latest commit refused for storage has been followed by
// one that went through. /healthz asks Bank.Healthy, which leaves the
// ledger out. Lines about failures are rate-limited per cause (LogEvery).
//
// # Caveats
//
// A bank's bbolt file is opened by one process; a second is refused with
// boltfile.ErrInUse, and a damaged file with boltfile.ErrDamaged. After a
// write of the file fails the bank refuses every change, and Err and
// /healthz say why, until it is reopened. Messages relayed between
// banks (payment requests, declines) are not durable: a request that could
// not be delivered is answered with an error, and retrying it resends it.
package intermediary

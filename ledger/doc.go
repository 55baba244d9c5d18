// Package ledger is the central ledger of the digital-yen sandbox: the
// central bank's system of record for CBDC.
//
// # Basics
//
// Accounts are of five kinds: the issuance account (one, opened at
// genesis; its balance is minus the CBDC in circulation), intermediaries,
// wallets (pseudonymous, tagged with the intermediary serving them),
// offline escrow and loss. Issue and Redeem move money between the
// issuance account and an intermediary; Transfer and Batch move it between
// any other accounts. Only the issuance account may go negative.
//
// Ledger.Intermediary gives one bank its view: its operations are
// recorded as its own, its ids are its own namespace, and it may move money
// only out of its own account and the accounts it serves.
//
// A bank follows the durable journal records that touch its own account or
// the accounts it serves with Intermediary.Feed, from a cursor it keeps
// itself, and passes messages to other banks (a request-to-pay, say) with
// Send and Receive.
//
// A wallet may carry a holder token, the same at every bank for one
// person, and Limits. The ledger holds each holder to the smallest limit
// among its open wallets across all banks, atomically with every transfer
// and batch: a credit over it is refused with ErrHoldingLimit or, where
// the wallet has the waterfall on, the excess is swept to its serving
// intermediary (Event.Sweeps). The token never tells the ledger who the
// holder is.
//
// Every operation carries a client-chosen id. A retry with the same id
// returns the first receipt and never applies twice; the same id with other
// contents is refused with ErrOpIDReused. A refused operation changes
// nothing and does not use up its id.
//
// An operation is acknowledged only once it is fsynced. Operations from
// many callers share one bbolt transaction (group commit); the journal is
// the only thing written on that path. Balances live in memory and are
// rebuilt from the journal when the ledger opens. The journal is
// append-only and hash-chained; Audit replays it from nothing.
//
// Open serves only a journal it has verified: it checks the whole hash
// chain, and the file beneath it, before anything else, and refuses
// damage with a *DamageError that says which record and what kind of
// damage (bytes altered, records missing, cut short), which errors.Is
// matches with boltfile.ErrDamaged. A damaged checkpoint is set aside and
// the journal replayed. A journal whose chain is whole but whose records
// break a rule is refused as ErrCorrupt, and is not damage.
//
// # Caveats
//
// A caller whose context ends while waiting does not learn the outcome; it
// retries with the same id to find out. After a storage failure the ledger
// refuses all operations (ErrStorage) until it is reopened. The index of
// operation ids is kept in memory for the life of the process, about 50
// bytes per operation.
//
// Messages between intermediaries are not journaled: they wait in memory,
// bounded per mailbox, and are lost when the ledger closes or stops.
package ledger

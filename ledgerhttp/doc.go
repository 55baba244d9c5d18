// Package ledgerhttp serves the central ledger to intermediaries over HTTP
// and is the client an intermediary uses to reach it. The client has the
// same methods as ledger.Intermediary, so a bank runs the same code against
// a ledger in its own process or across the network.
//
// # Basics
//
// Every intermediary has an ed25519 key whose public half the ledger was
// given at set-up. A bank opens a session by signing a fresh challenge
// (GET /v1/challenge, POST /v1/session) and then sends its session token
// as a bearer token. There is no anonymous access: every other endpoint
// answers 401 without a valid token. Each request acts as exactly the
// intermediary that signed for the session, through ledger.Intermediary, so
// a bank can move money only out of the accounts it serves.
//
// POST /v1/ops carries up to MaxOpsPerRequest operations and answers each
// with a receipt or a ledger error code. Operations in one request are
// independent: the ledger may apply them in any order (that is what lets
// them share a group commit), so dependent operations go in separate
// requests or in one atomic batch.
//
// GET /v1/feed and GET /v1/messages are long polls: the server holds the
// request until there is something to answer or the wait the client names
// (wait=20s by default, at most 30s) passes, and then answers 200 with
// nothing. The client's Feed and Receive ask again in rounds of 25 seconds
// for as long as their context allows.
//
// # Faults
//
// Each call of the Client has a deadline: DefaultCallTimeout (2 s) for an
// operation or a query, sign-in included; a long poll's wait plus 5 s;
// DefaultSlowTimeout for reconciling an offline upload. A call that gets
// no answer returns an *UnreachableError: its outcome is unknown, and the
// same op id asked again finds it. A circuit breaker keeps a ledger that
// is down or frozen from costing every caller a dial or a deadline: after
// three calls in a row without an answer, or one that ran out of time, it
// fails calls at once (ErrCircuitOpen, with a retry hint) and lets one
// probe through after a backoff of 125-250 ms, doubling to at most 1.5-3 s.
// Ready asks the ledger's /readyz and can be that probe. NewTransport keeps
// a small pool of kept-alive connections and refuses a dial that connected
// to itself (ErrSelfConnect).
//
// # Caveats
//
// Session tokens travel in the clear unless the server runs behind TLS.
// Sessions live in the server's memory; after a restart, clients sign in
// again by themselves.
//
// An http.Server in front of the handler must let a response take longer
// than the longest wait: no WriteTimeout under 30 seconds.
package ledgerhttp

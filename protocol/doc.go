// Package protocol is the wire protocol between a wallet and its
// intermediary: JSON messages over a websocket. Wallets (package wallet)
// and intermediaries (package intermediary) both import it, so neither
// imports the other.
//
// # Basics
//
// Every message is an Envelope: a protocol version, a type, the request id
// the client chose (echoed in the answer) and a body whose shape the type
// decides. On connecting, the intermediary sends a challenge; the wallet
// answers with hello (an existing wallet) or register (a new customer),
// signed with its ed25519 key over the challenge. Every instruction that
// moves money or changes a setting is signed too, over SigningBytes, and
// carries a request id: a retry with the same id returns the first result
// and never applies twice.
//
// docs/protocol.md lists every message with an example and every error
// code; it is the specification an outside client is written from.
// ReadEnvelope and ReadBody read what a wallet sends exactly as its
// "Reading a message" says (required and optional fields, null, base64,
// times, numbers, and which error wins); the bank reads with them, so
// the page and the bank cannot read a message differently.
//
// # Caveats
//
// Free-text fields (names, memos) must not hold control characters, so
// that the newline-separated signing form stays unambiguous.
package protocol

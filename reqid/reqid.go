// Package reqid carries a request id from a wallet's instruction through
// its bank to the central ledger, so one instruction can be followed
// through every service's log. The id says nothing about who sent it: it
// is the bank's id and a hash of the wallet and its request id, the same
// on every retry.
package reqid

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
)

// Header is the HTTP header a bank sends the id to the ledger in.
const Header = "X-Request-Id"

// MaxLen bounds an id taken from a header; longer ones are dropped.
const MaxLen = 64

type key struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// From returns the id ctx carries, "" for none.
func From(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}

// ForWallet is the id of a wallet's request at a bank: the bank's id and
// 12 hex digits of a hash of the wallet's key id and its request id.
func ForWallet(bank, walletKeyID, requestID string) string {
	h := sha256.Sum256([]byte(walletKeyID + "\x00" + requestID))
	return bank + "-" + hex.EncodeToString(h[:6])
}

// Valid says whether s may be taken from a header: 1 to MaxLen letters,
// digits and ._:- so a log line cannot be forged through it.
func Valid(s string) bool {
	if len(s) == 0 || len(s) > MaxLen {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

package ledger

import "fmt"

// AccountID names an account. Wallet ids are pseudonymous: the ledger never
// learns who holds a wallet.
type AccountID string

// IssuanceAccount is the central bank's issuance account. Its balance is
// minus the CBDC in circulation; it is the only account that goes negative.
const IssuanceAccount AccountID = "issuance"

// Kind says what an account is for and which rules apply to it.
type Kind uint8

// Account kinds.
const (
	KindIssuance     Kind = 1 // the central bank's issuance account, one per ledger
	KindIntermediary Kind = 2 // an intermediary bank's CBDC float
	KindWallet       Kind = 3 // a pseudonymous wallet, served by an intermediary
	KindEscrow       Kind = 4 // value held for offline purses
	KindLoss         Kind = 5 // a fund that covers offline losses, such as the guarantee account
)

const kindCount = 6 // kinds are 1..5; index 0 unused

var kindNames = [kindCount]string{"", "issuance", "intermediary", "wallet", "escrow", "loss"}

func (k Kind) String() string {
	if k.valid() {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

func (k Kind) valid() bool { return k >= KindIssuance && k <= KindLoss }

// ParseKind turns a kind's name back into a Kind.
func ParseKind(s string) (Kind, error) {
	for k := KindIssuance; k <= KindLoss; k++ {
		if kindNames[k] == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("ledger: unknown account kind %q (want intermediary, wallet, escrow or loss)", s)
}

// HolderID is a pseudonymous holder token: 1..64 letters, digits or
// ._:@- (the rule for ids). Banks derive it alike from a person's identity
// under a key the ledger does not have, so one person's wallets at several
// banks share one token and one holding limit while the ledger learns
// nothing about who they are.
type HolderID string

// Limits are a wallet's holding limit and waterfall setting.
type Limits struct {
	// Holding is the most its holder may hold across all its wallets, in
	// yen; 0 means no limit. Never negative.
	Holding int64
	// Sweep makes a credit over the limit sweep the excess to the serving
	// intermediary instead of being refused.
	Sweep bool
}

// AccountSpec describes an account to open. Wallets must name the
// intermediary that serves them; escrow and loss accounts may.
type AccountSpec struct {
	ID           AccountID
	Kind         Kind
	Intermediary AccountID
	Holder       HolderID // wallets only; "" means the wallet is its own holder
	Limits       Limits   // wallets only
}

// Account is an account as of the last committed operation.
type Account struct {
	ID           AccountID
	Kind         Kind
	Intermediary AccountID // "" when untagged
	Closed       bool
	Balance      int64
	OpenedSeq    uint64 // journal sequence of the operation that opened it
	LastSeq      uint64 // journal sequence of the last operation that touched it
	Holder       HolderID
	Limits       Limits
}

// Holding is one holder's position across every bank.
type Holding struct {
	Holder   HolderID
	Wallets  int   // open wallets with this holder
	Holdings int64 // their balances summed
	Limit    int64 // the smallest non-zero Holding limit among them; 0 means none
}

// maxIDLen bounds account and operation ids.
const maxIDLen = 64

// validID reports whether s is 1..64 bytes of letters, digits and ._:@-
func validID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == ':', c == '@', c == '-':
		default:
			return false
		}
	}
	return true
}

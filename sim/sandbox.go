package sim

import (
	"context"

	"github.com/gorilla/websocket"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// Sandbox is what a run needs of the sandbox it runs in: the banks its
// wallets reach, a way to onboard and fund its parties, and what it can
// see of the ledger. A sandbox in this process (package sim/local) sees
// everything; one in other processes (ConnectRemote) sees only what the
// banks' admin API and, if given, the ledger's client API show.
type Sandbox interface {
	// Banks lists the banks; party n is at bank n modulo their number.
	Banks() []Bank
	// Dialer is the wallets' websocket dialer; nil for the default.
	Dialer() *websocket.Dialer

	// IssueFloat issues bank b amount of float on top of what it holds.
	IssueFloat(ctx context.Context, bank int, amount int64) error
	// Onboard opens every party at its bank with DepositAccount in its
	// deposit account, and gives it its starting balance: in its wallet,
	// or on deposit where StartOnDeposit says so.
	Onboard(ctx context.Context, parties []Party) error
	// StartOnDeposit says Onboard leaves starting balances on deposit,
	// for each party's session to withdraw: only a bank moves CBDC to
	// its wallets, and a sandbox driving banks from outside cannot.
	StartOnDeposit() bool

	// Totals reads the ledger's totals; false when the sandbox cannot
	// see the ledger.
	Totals(ctx context.Context) (ledger.Totals, bool)
	// Holdings reads what each onboarded party holds, wallet plus
	// deposit, by party; nil when the sandbox cannot read every bank's
	// wallets.
	Holdings(ctx context.Context) ([]int64, error)

	// CloseWindow closes settlement's window now. A ledger in other
	// processes closes it on its own timer: there it does nothing.
	CloseWindow(ctx context.Context) error
	// EndOfflinePeriod closes settlement's books as if every offline
	// deadline had passed, where the sandbox controls settlement's clock;
	// elsewhere it does nothing.
	EndOfflinePeriod(ctx context.Context) error
	// Settlement is settlement's own account of offline payments; false
	// when the sandbox cannot read it, and a run knows only what sync
	// answers told it.
	Settlement() (Settlement, bool)

	// Close ends what the sandbox opened.
	Close() error
}

// Bank is one bank of a sandbox.
type Bank struct {
	ID        string // its account at the ledger
	WalletURL string // its wallet websocket
}

// Settlement is the ledger's account of offline payments.
type Settlement interface {
	// Voucher is what became of a voucher; false when it was never
	// handed in.
	Voucher(h offline.Hash) (protocol.VoucherOutcome, bool)
	// Losses are what settlement charged each loss bearer, by account,
	// and what payees lost.
	Losses() (byBearer map[string]int64, payees int64)
	// Conflicts lists the conflicts found, in the order found.
	Conflicts() []Conflict
}

// Conflict is a purse caught in an attack or a fault: the kind of
// conflict, and the purse's serial.
type Conflict struct{ Kind, Device string }

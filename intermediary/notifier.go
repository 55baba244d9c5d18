package intermediary

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/digital-yen/cbdc-sandbox/internal/loglimit"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// Notifier delivers what the bank has to tell the wallets connected now.
// The bank's websocket gateway (package intermediary/gateway) implements
// it; a bank with none attached tells nobody, which is right while no
// wallet can be connected.
type Notifier interface {
	// Notify tells the wallet's sessions of a movement of its money.
	Notify(keyID string, e protocol.Entry)
	// Push sends an encoded message to the wallet's sessions.
	Push(keyID string, msg []byte)
	// Connections is the number of wallet connections open now.
	Connections() int
	// Close ends every session and waits for them to end. The bank calls
	// it first when it closes, so no request runs into a closed bank.
	Close()
}

// notifierSlot holds the attached notifier; atomic, since the feed may
// already be delivering when a gateway attaches.
type notifierSlot struct{ p atomic.Pointer[Notifier] }

func (s *notifierSlot) get() Notifier {
	if n := s.p.Load(); n != nil {
		return *n
	}
	return nobody{}
}

type nobody struct{}

func (nobody) Notify(string, protocol.Entry) {}
func (nobody) Push(string, []byte)           {}
func (nobody) Connections() int              { return 0 }
func (nobody) Close()                        {}

// Attach makes n the bank's notifier; a gateway attaches itself before it
// serves its first wallet.
func (b *Bank) Attach(n Notifier) { b.notifier.p.Store(&n) }

// KeyID is the wallet's key id, which names it in the bank's books.
func (w *Wallet) KeyID() string { return w.keyID }

// Address is the wallet's account address at the central ledger.
func (w *Wallet) Address() string { return w.addr }

// CustomerID is the bank's customer that holds the wallet.
func (w *Wallet) CustomerID() string { return w.customer }

// PurseEscrow is the escrow account of the wallet's offline purse at the
// central ledger, "" when it has none or its record cannot be read (that
// is logged).
func (b *Bank) PurseEscrow(w *Wallet) string {
	_, rec, found, err := b.st.purseOf(w.keyID)
	if err != nil {
		b.log.Warn("the wallet's purse record could not be read", "wallet", w.addr, "err", err)
	}
	if err != nil || !found {
		return ""
	}
	return rec.Escrow
}

// LedgerBalance reads the wallet's balance at the central ledger and the
// ledger sequence it is as of, so a gateway can keep it current from the
// notifications that follow.
func (b *Bank) LedgerBalance(ctx context.Context, w *Wallet) (balance int64, asOf uint64, err error) {
	acct, err := b.led.Account(ctx, ledger.AccountID(w.addr))
	if err != nil {
		return 0, 0, fromLedger(err)
	}
	return acct.Balance, acct.LastSeq, nil
}

// Config is the bank's configuration, with the defaults filled in.
func (b *Bank) Config() Config { return b.cfg }

// Logger is the bank's log.
func (b *Bank) Logger() *slog.Logger { return b.log }

// Logs is the bank's log limiter: at most one line per cause per LogEvery.
func (b *Bank) Logs() *loglimit.Limiter { return b.logs }

package intermediary

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/loglimit"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// Bank is one intermediary. It is safe for concurrent use.
type Bank struct {
	cfg Config
	id  ledger.AccountID
	led Ledger
	st  *store
	log *slog.Logger
	now func() time.Time

	// Lock order. A goroutine that holds one of these may take only those
	// after it, never one before:
	//
	//	onboardMu → Wallet.mu → sched.mu → mu → Wallet.setMu
	//
	// floatMu sits where Wallet.mu does and is never held with it: a
	// pending intent is resolved under the lock its instruction held, the
	// wallet's or the float's. regMu, the store's failMu, feed.mu and
	// health.mu are leaves: nothing is taken under them. bbolt's writer
	// lock counts too: a write of the bank's file may take sched.mu in its
	// callback (cancelling a schedule), so no write starts while sched.mu
	// is held. The Notifier is called with these held (a wallet's
	// instruction pushes under Wallet.mu), so the gateway's locks (hub.mu →
	// session.ansMu) come after all of them, and the gateway never calls
	// the bank while it holds one.
	mu        sync.RWMutex // protects the maps below and each customer's fields
	customers map[string]*customer
	wallets   map[string]*Wallet // by key id
	persons   map[string]string  // holder token -> customer id

	notifier notifierSlot // the gateway's sessions
	sigs     *sigChecker
	feed     feedState
	sched    scheduler

	onboardMu sync.Mutex // serialises onboarding, wallet additions and tier changes
	floatMu   sync.Mutex // serialises issuing and redeeming float

	regMu   sync.Mutex // protects regRate
	regRate map[string]*tokenBucket

	logs   *loglimit.Limiter // failures' lines, at most one per cause per LogEvery
	health ledgerHealth      // what /readyz answers from

	purses *purses // nil when the bank offers no offline purses

	floatKick chan struct{} // asks the float keeper to look now
	ctx       context.Context
	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type customer struct {
	id, personID, holder, tier string
	wallets                    []string // key ids
}

// Wallet is a wallet the bank serves. The bank holds one for every
// wallet, connected or not, so it is kept small: the rate limit's terms
// are the bank's, not copied into each.
type Wallet struct {
	keyID, addr, customer string
	pub                   ed25519.PublicKey

	mu sync.Mutex // serialises the wallet's instructions, so retries and auto-charge never race

	key atomic.Pointer[sigKey] // pub decompressed for signature checks, once first needed

	setMu      sync.Mutex // protects waterfall, autoCharge and rate
	waterfall  bool
	autoCharge bool
	forged     atomic.Bool // it sent a signature that failed: its own are checked alone (in padding, not under setMu)
	rate       tokenBucket
}

// Open opens (or creates) the bank's data file, checks its account at the
// central ledger and starts its background work: following the ledger's
// feed, receiving relayed messages, resolving intents, keeping its float
// and firing scheduled payments. Close stops it.
func Open(ctx context.Context, cfg Config) (*Bank, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	acct, err := cfg.Ledger.Account(ctx, cfg.ID)
	if err != nil {
		return nil, fmt.Errorf("intermediary: %s at the central ledger: %w", cfg.ID, err)
	}
	if acct.Kind != ledger.KindIntermediary || acct.Closed {
		return nil, fmt.Errorf("intermediary: %s at the central ledger is not an open intermediary account", cfg.ID)
	}
	log := cfg.Logger.With("bank", string(cfg.ID))
	st, err := openStore(cfg.Path, log)
	if err != nil {
		return nil, err
	}
	b := &Bank{cfg: cfg, id: cfg.ID, st: st, log: log, now: cfg.Now,
		customers: map[string]*customer{}, wallets: map[string]*Wallet{}, persons: map[string]string{},
		floatKick: make(chan struct{}, 1)}
	b.led = commitWatch{Ledger: cfg.Ledger, h: &b.health}
	b.logs = loglimit.New(b.log, cfg.LogEvery, time.Now)
	b.sigs = cfg.SignatureChecker.attach()
	b.feed.init()
	if err := b.load(); err != nil {
		cfg.SignatureChecker.detach()
		st.close()
		return nil, err
	}
	if err := b.openPurses(ctx); err != nil {
		cfg.SignatureChecker.detach()
		st.close()
		return nil, err
	}
	b.ctx, b.stop = context.WithCancel(context.Background())
	b.resolveIntents(ctx)
	for _, run := range []func(){b.followFeed, b.receiveRelay, b.keepIntents, b.keepFloat, b.runScheduler, b.watchLedger} {
		b.wg.Go(run)
	}
	b.log.Info("intermediary open", "customers", len(b.customers), "wallets", len(b.wallets), "feed_cursor", b.feed.applied())
	return b, nil
}

// Close has the gateway close every wallet connection, stops the background work and
// closes the data file.
func (b *Bank) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.notifier.get().Close()
		b.stop()
		b.feed.close()
		b.wg.Wait()
		b.cfg.SignatureChecker.detach()
		if cerr := b.st.close(); cerr != nil {
			err = fmt.Errorf("intermediary: close: %w", cerr)
		}
	})
	return err
}

// Err is nil while the bank's file takes writes, and says why once a
// write to it has failed; the bank then refuses every change until it is
// reopened. Health checks ask it.
func (b *Bank) Err() error { return b.st.err() }

// ID is the bank's account id at the central ledger.
func (b *Bank) ID() ledger.AccountID { return b.id }

// load reads customers, wallets, the feed cursor and schedules, and books
// the first reserves on a new file.
func (b *Bank) load() error {
	l, err := b.st.load(b.cfg.Reserves)
	if err != nil {
		return err
	}
	b.feed.cursor = l.cursor
	for _, c := range l.customers {
		b.customers[c.ID] = &customer{id: c.ID, personID: c.PersonID, holder: c.Holder, tier: c.Tier, wallets: c.Wallets}
		b.persons[c.Holder] = c.ID
	}
	for _, w := range l.wallets {
		b.wallets[w.KeyID] = b.newWallet(w)
	}
	b.sched.load(l.schedules)
	return nil
}

func (b *Bank) newWallet(w *walletRec) *Wallet {
	return &Wallet{keyID: w.KeyID, addr: w.Address, customer: w.Customer, pub: ed25519.PublicKey(w.PublicKey),
		waterfall: w.Waterfall, autoCharge: w.AutoCharge}
}

func (b *Bank) wallet(keyID string) *Wallet {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.wallets[keyID]
}

// tierOf returns the tier of a wallet's customer.
func (b *Bank) tierOf(w *Wallet) Tier {
	b.mu.RLock()
	name := b.customers[w.customer].tier
	b.mu.RUnlock()
	t, _ := b.cfg.tier(name)
	return t
}

// sigKey returns the wallet's key ready for signature checks. Two
// instructions arriving together may both decompress it; either result
// is the same.
func (w *Wallet) sigKey() (*sigKey, error) {
	if k := w.key.Load(); k != nil {
		return k, nil
	}
	k, err := newSigKey(w.pub)
	if err != nil {
		return nil, fail(protocol.CodeBadPublicKey, "the wallet's registered key is not a valid ed25519 point")
	}
	w.key.Store(k)
	return k, nil
}

func (w *Wallet) settings() (waterfall, autoCharge bool) {
	w.setMu.Lock()
	defer w.setMu.Unlock()
	return w.waterfall, w.autoCharge
}

// sleep waits d or until the bank closes; it reports whether to go on.
func (b *Bank) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-b.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// logErr logs a failure with what failed: the first of its kind, then at
// most one line per LogEvery with the count of the others.
func (b *Bank) logErr(what string, err error, args ...any) {
	b.logs.Logf(slog.LevelWarn, what, what, append(args, slog.Any("err", err))...)
}

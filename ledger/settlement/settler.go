package settlement

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/digital-yen/cbdc-sandbox/boltfile"
	"github.com/digital-yen/cbdc-sandbox/internal/atomicfile"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// File names in the ledger's data directory.
const (
	FileName    = "settlement.db"
	RootKeyFile = "root.key"
)

// GuaranteeAccount is the central bank's guarantee fund, a loss account
// that pays payees when the policy says the central bank bears a loss.
const GuaranteeAccount ledger.AccountID = "offline-guarantee"

// Defaults for Config.
const (
	DefaultGuaranteeFund    = 100_000_000
	DefaultBankCertLifetime = 365 * 24 * time.Hour
	MaxUpload               = 2_000 // vouchers of about 600 bytes: within an HTTP request's 4 MiB
	// MaxClockSkew is how far ahead of the ledger's clock a bank's may be
	// when it issues a certificate the ledger registers.
	MaxClockSkew = 5 * time.Minute
)

// Config sets up a Settler. Policy must be valid; the rest have defaults.
type Config struct {
	Policy           offline.Policy
	GuaranteeFund    int64         // yen issued into GuaranteeAccount when it opens
	BankCertLifetime time.Duration // how long a bank's certificate is valid
	Logger           *slog.Logger
	Now              func() time.Time

	// Replicated, on a replicated ledger, has the Settler run on the
	// leader over this replica's copy of the index; nil for a lone ledger,
	// whose index is a file in the ledger's directory.
	Replicated *Replicated
}

func (c *Config) fill() error {
	if c.Policy.UploadGrace == 0 {
		c.Policy.UploadGrace = offline.DefaultUploadGrace
	}
	if err := c.Policy.Validate(); err != nil {
		return err
	}
	if c.GuaranteeFund <= 0 {
		c.GuaranteeFund = DefaultGuaranteeFund
	}
	if c.BankCertLifetime <= 0 {
		c.BankCertLifetime = DefaultBankCertLifetime
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if r := c.Replicated; r != nil && (r.Index == nil || r.Replicator == nil || r.RootKey == "") {
		return errors.New("a replicated settler needs the replica's index, its replicator and the root key's file")
	}
	return nil
}

// Settler settles offline vouchers on one ledger. It is safe for
// concurrent use: one goroutine owns its state and runs every change (see
// engine.go); readers share a lock with it.
type Settler struct {
	l         *ledger.Ledger
	db        *bolt.DB
	rep       ledger.Replicator // nil: writes go to db; else through the replicas, whose Apply writes db
	root      ed25519.PrivateKey
	cfg       Config
	chains    sync.Map // digest of a chain's encoding → struct{}: chains whose signatures verified
	receipts  sync.Map // digest of a sync receipt → struct{}: receipts whose signatures verified
	payerKeys sync.Map // a purse's public key → its *edbatch.Key, decompressed

	jobs      chan *job
	examiners chan struct{} // a token for each core uploads may be examined on at once
	quit      chan struct{} // closed by Close
	stopped   chan struct{} // closed when the owner has returned

	mu        sync.RWMutex // the owner holds it to change the fields below; readers to read them
	failure   error
	banks     map[ledger.AccountID]offline.BankCert
	devices   map[offline.Serial]*device
	vouchers  map[offline.Hash]*entry
	slots     map[offline.VoucherKey][]*entry // each slot's vouchers, in arrival order
	ops       map[string]*op                  // ledger operations decided and not yet confirmed
	reserved  map[ledger.AccountID]int64      // escrow those operations will take
	conflicts []Conflict
	impostors map[impostor]bool // certificates a bank's key signed that it never registered
	arrivals  uint64
	crl       *offline.RevocationList // nil when a revocation has not been signed yet
	revoked   int
}

// impostor names a certificate's bank and serial.
type impostor struct {
	bank   ledger.AccountID
	serial offline.Serial
}

// Open opens the settlement index in the ledger's directory, creating it
// and the root key on first use, and settles anything a crash left half
// done.
func Open(ctx context.Context, l *ledger.Ledger, cfg Config) (*Settler, error) {
	if err := cfg.fill(); err != nil {
		return nil, fmt.Errorf("settlement: %w", err)
	}
	rootPath := filepath.Join(l.Dir(), RootKeyFile)
	if r := cfg.Replicated; r != nil {
		rootPath = r.RootKey
	}
	root, err := loadRootKey(rootPath)
	if err != nil {
		return nil, err
	}
	var db *bolt.DB
	if r := cfg.Replicated; r != nil {
		db = r.Index.file()
	} else if db, err = boltfile.Open(filepath.Join(l.Dir(), FileName), bolt.Options{Timeout: time.Second}, nil); err != nil {
		return nil, fmt.Errorf("settlement: %w", err)
	}
	s := newSettler(l, db, root, cfg)
	if r := cfg.Replicated; r != nil {
		s.rep = r.Replicator
	}
	st, err := readIndex(db)
	if err == nil {
		err = sameRoot(st, root, rootPath)
	}
	if err == nil {
		err = s.load(st)
	}
	if err == nil {
		err = s.openGuarantee(ctx)
	}
	if err != nil {
		if cfg.Replicated == nil {
			db.Close()
		}
		return nil, err
	}
	go s.loop()
	// Operations a crash or a lost answer left in doubt go first.
	if err := s.run(ctx, func(r *round) error { r.ops = append(r.ops, s.inDoubt()...); return nil }); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func newSettler(l *ledger.Ledger, db *bolt.DB, root ed25519.PrivateKey, cfg Config) *Settler {
	return &Settler{l: l, db: db, root: root, cfg: cfg,
		jobs: make(chan *job), quit: make(chan struct{}), stopped: make(chan struct{}),
		examiners: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)-1)),
		banks:     map[ledger.AccountID]offline.BankCert{}, devices: map[offline.Serial]*device{},
		vouchers: map[offline.Hash]*entry{}, slots: map[offline.VoucherKey][]*entry{},
		ops: map[string]*op{}, reserved: map[ledger.AccountID]int64{}, impostors: map[impostor]bool{}}
}

// Close stops taking work, lets the round under way finish, and closes the
// index (a replica's copy stays open). The ledger stays open.
func (s *Settler) Close() error {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.stopped
	if s.rep != nil {
		return nil
	}
	return s.db.Close()
}

// RootKey is the central bank's public root key, which purses trust.
func (s *Settler) RootKey() ed25519.PublicKey { return s.root.Public().(ed25519.PublicKey) }

// Policy is the offline policy the settler applies.
func (s *Settler) Policy() offline.Policy { return s.cfg.Policy }

// sameRoot checks that the root key certified the banks in the index: a
// replica given another key (or a key file replaced) would certify purses
// that no payee trusts, so it refuses to start instead.
func sameRoot(st *stored, root ed25519.PrivateKey, path string) error {
	pub := root.Public().(ed25519.PublicKey)
	for id, c := range st.banks {
		if err := c.Verify(pub, c.NotAfter); err != nil {
			return fmt.Errorf("settlement: the root key in %s did not certify bank %s, whose certificate the index holds: every replica needs the root key that started the ledger", path, id)
		}
	}
	return nil
}

// loadRootKey reads the root key's seed, or makes one. The seed sits in the
// ledger's data directory with owner-only permissions, like the ledger.
func loadRootKey(path string) (ed25519.PrivateKey, error) {
	seed, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		seed = make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, err
		}
		// Made once and never replaced: purses trust its public half.
		if err := atomicfile.WriteNew(path, seed, 0o600); errors.Is(err, fs.ErrExist) {
			return loadRootKey(path) // another process made it first
		} else if err != nil {
			return nil, fmt.Errorf("settlement: write root key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("settlement: read root key: %w", err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("settlement: root key %s holds %d bytes, want %d", path, len(seed), ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// openGuarantee opens and funds the guarantee account once; both
// operations have fixed ids, so reopening repeats nothing.
func (s *Settler) openGuarantee(ctx context.Context) error {
	if _, err := s.l.Account(GuaranteeAccount); err == nil {
		return nil
	}
	spec := ledger.AccountSpec{ID: GuaranteeAccount, Kind: ledger.KindLoss}
	if _, err := s.l.OpenAccount(ctx, "settlement:guarantee-open", spec); err != nil {
		return fmt.Errorf("settlement: open the guarantee account: %w", err)
	}
	if _, err := s.l.Issue(ctx, "settlement:guarantee-fund", GuaranteeAccount, s.cfg.GuaranteeFund); err != nil {
		return fmt.Errorf("settlement: fund the guarantee account: %w", err)
	}
	return nil
}

// CertifyBank signs a bank's offline key with the root key. Certifying the
// same key again returns the stored certificate while it has more than half
// its life left, so banks may call it at every start.
func (s *Settler) CertifyBank(bank ledger.AccountID, key ed25519.PublicKey) (offline.BankCert, error) {
	if a, err := s.l.Account(bank); err != nil || a.Kind != ledger.KindIntermediary {
		return offline.BankCert{}, &detailed{ErrUnknownBank, fmt.Sprintf("%s is not an intermediary on the ledger", bank)}
	}
	var c offline.BankCert
	err := s.run(context.Background(), func(r *round) error {
		if old, ok := s.banks[bank]; ok && old.Key.Equal(key) && old.NotAfter.Sub(r.now) > s.cfg.BankCertLifetime/2 {
			c = old
			return nil
		}
		var err error
		if c, err = offline.IssueBankCert(s.root, string(bank), key, r.now.Add(s.cfg.BankCertLifetime)); err != nil {
			return err
		}
		s.banks[bank] = c
		r.w.banks = append(r.w.banks, c)
		return nil
	})
	return c, err
}

// BankCert returns a bank's current certificate.
func (s *Settler) BankCert(bank ledger.AccountID) (offline.BankCert, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.banks[bank]
	if !ok {
		return offline.BankCert{}, &detailed{ErrUnknownBank, fmt.Sprintf("%s has no offline certificate; certify its key first", bank)}
	}
	return c, nil
}

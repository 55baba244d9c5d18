package settlement

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

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
	MaxUpload               = 2_000 // vouchers of about 450 bytes: within an HTTP request's 4 MiB
)

// Config sets up a Settler. Policy must be valid; the rest have defaults.
type Config struct {
	Policy           offline.Policy
	GuaranteeFund    int64         // yen issued into GuaranteeAccount when it opens
	BankCertLifetime time.Duration // how long a bank's certificate is valid
	Logger           *slog.Logger
	Now              func() time.Time
}

func (c *Config) fill() error {
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
	return nil
}

// Settler settles offline vouchers on one ledger. It is safe for
// concurrent use.
type Settler struct {
	l      *ledger.Ledger
	db     *bolt.DB
	root   ed25519.PrivateKey
	cfg    Config
	chains sync.Map       // digest of a chain's encoding → struct{}: chains whose signatures verified
	behind sync.WaitGroup // writes of confirmed settlements still on their way to disk

	mu        sync.Mutex // protects the fields below
	failure   error
	banks     map[ledger.AccountID]offline.BankCert
	devices   map[offline.Serial]*device
	vouchers  map[offline.Hash]*entry
	slots     map[offline.VoucherKey]offline.Hash
	pending   map[offline.Serial]map[offline.Hash]bool // by payer
	reserved  map[ledger.AccountID]int64               // escrow promised to settlements in flight
	conflicts []Conflict
	arrivals  uint64
	gen       uint64                  // generation of the last record encoded for the index
	closing   bool                    // Close has begun: no more writes in the background
	crl       *offline.RevocationList // nil when a revocation has not been signed yet
	revoked   int
}

// Open opens the settlement index in the ledger's directory, creating it
// and the root key on first use, and settles anything a crash left half
// done.
func Open(ctx context.Context, l *ledger.Ledger, cfg Config) (*Settler, error) {
	if err := cfg.fill(); err != nil {
		return nil, fmt.Errorf("settlement: %w", err)
	}
	root, err := loadRootKey(filepath.Join(l.Dir(), RootKeyFile))
	if err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(l.Dir(), FileName), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("settlement: open %s: %w", FileName, err)
	}
	// Concurrent uploads share commits (db.Batch); a short wait gathers them
	// without holding a lone upload back for bbolt's default 10 ms.
	db.MaxBatchDelay = 2 * time.Millisecond
	s := &Settler{l: l, db: db, root: root, cfg: cfg,
		banks: map[ledger.AccountID]offline.BankCert{}, devices: map[offline.Serial]*device{},
		vouchers: map[offline.Hash]*entry{}, slots: map[offline.VoucherKey]offline.Hash{},
		pending: map[offline.Serial]map[offline.Hash]bool{}, reserved: map[ledger.AccountID]int64{}}
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.openGuarantee(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.resume(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close waits for writes in the background and closes the index. The
// ledger stays open.
func (s *Settler) Close() error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.behind.Wait()
	return s.db.Close()
}

// RootKey is the central bank's public root key, which purses trust.
func (s *Settler) RootKey() ed25519.PublicKey { return s.root.Public().(ed25519.PublicKey) }

// Policy is the offline policy the settler applies.
func (s *Settler) Policy() offline.Policy { return s.cfg.Policy }

// loadRootKey reads the root key's seed, or makes one. The seed sits in the
// ledger's data directory with owner-only permissions, like the ledger.
func loadRootKey(path string) (ed25519.PrivateKey, error) {
	seed, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		seed = make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, err
		}
		if err := writeFileAtomic(path, seed); err != nil {
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

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
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
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	if c, ok := s.banks[bank]; ok && c.Key.Equal(key) && c.NotAfter.Sub(now) > s.cfg.BankCertLifetime/2 {
		return c, nil
	}
	c, err := offline.IssueBankCert(s.root, string(bank), key, now.Add(s.cfg.BankCertLifetime))
	if err != nil {
		return offline.BankCert{}, err
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return putBank(tx, c) }); err != nil {
		return offline.BankCert{}, s.stop(err)
	}
	s.banks[bank] = c
	return c, nil
}

// BankCert returns a bank's current certificate.
func (s *Settler) BankCert(bank ledger.AccountID) (offline.BankCert, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.banks[bank]
	if !ok {
		return offline.BankCert{}, &detailed{ErrUnknownBank, fmt.Sprintf("%s has no offline certificate; certify its key first", bank)}
	}
	return c, nil
}

// stop records a failed write; from then on every request gets ErrStopped.
// Called with s.mu held or before the settler is shared.
func (s *Settler) stop(err error) error {
	if s.failure == nil {
		s.failure = err
		s.cfg.Logger.Error("settlement index write failed; refusing work until reopened", "err", err)
	}
	return &detailed{ErrStopped, s.failure.Error()}
}

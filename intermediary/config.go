package intermediary

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// Tier is a KYC tier: the checks a customer passed decide its limits.
type Tier = protocol.Tier

// DefaultTiers are the sandbox's KYC tiers. The first is what a wallet that
// registers itself gets.
var DefaultTiers = []Tier{
	{Name: "basic", HoldingLimit: 100_000, PaymentLimit: 50_000},
	{Name: "standard", HoldingLimit: 500_000, PaymentLimit: 300_000},
	{Name: "merchant", HoldingLimit: 50_000_000, PaymentLimit: 10_000_000},
}

// Defaults for a Config's zero fields.
const (
	DefaultOpeningDeposit = 200_000
	DefaultReserves       = 100_000_000_000
	DefaultFloatLow       = 10_000_000
	DefaultFloatTarget    = 100_000_000
	DefaultRatePerSecond  = 20
	DefaultRateBurst      = 40
	DefaultMaxInFlight    = 32
	DefaultRetryEvery     = 2 * time.Second
	DefaultReadyEvery     = 500 * time.Millisecond
	DefaultLogEvery       = 10 * time.Second

	DefaultRegistrationsPerMinute = 60
	DefaultMaxWaitingPerAddress   = 256
)

// Config describes one intermediary. ID, Ledger, Path and HolderKey are
// required; every other zero field takes its Default.
type Config struct {
	ID     ledger.AccountID // the bank's account at the central ledger
	Ledger Ledger
	Path   string // the bank's bbolt file

	// HolderKey derives holder tokens from people's identities. Banks
	// share it, the central ledger never sees it: the same person gets the
	// same token at every bank, and the token reveals nothing.
	HolderKey []byte

	Tiers          []Tier // DefaultTiers when empty; the first is for self-registration
	OpeningDeposit int64  // simulated deposit a self-registered customer starts with
	Reserves       int64  // the bank's reserves at the central bank when first opened

	FloatLow    int64 // below this the bank issues itself more CBDC...
	FloatTarget int64 // ...up to this

	RatePerSecond float64 // instructions per wallet per second
	RateBurst     int

	// RegistrationsPerMinute bounds the wallets one network address may
	// register, so an anonymous client cannot create customers (each with
	// an opening deposit) without end.
	RegistrationsPerMinute int
	MaxInFlight            int // requests one connection may have unanswered

	// MaxWaitingPerAddress bounds the connections one network address (an
	// IPv6 /64) may hold open before they sign in (hello or register), so
	// a flood of idle sockets from one client cannot take the bank's
	// connections; those past it are refused with HTTP 429 before the
	// websocket opens. Behind a reverse proxy every client has the proxy's
	// address: raise it there.
	MaxWaitingPerAddress int

	// RetryEvery is how often intents whose ledger answer was lost are
	// asked about again.
	RetryEvery time.Duration

	// ReadyEvery is how often the bank asks its ledger whether it takes
	// operations, for the bank's /readyz.
	ReadyEvery time.Duration

	// LogEvery is the period of the log's rate limit: of each cause of a
	// failure (a code wallets were answered with, a background job that
	// failed) the first line is written, and then at most one a period,
	// with the count of those held back.
	LogEvery time.Duration

	// Origins are the browser origins allowed to open wallet websockets,
	// such as "http://localhost:8080", besides the bank's own when it is
	// reached by an IP address or localhost (its wallet app). A request
	// without an Origin header (not a browser) is allowed; any other
	// origin is refused.
	Origins []string

	// Offline is the central ledger's settlement of offline vouchers; nil
	// when the bank offers no offline purses. OfflineKey is the key the
	// bank certifies purses and signs receipts with; the root certifies it.
	Offline    Offline
	OfflineKey ed25519.PrivateKey

	// AdminToken is the bearer token of the admin API; required.
	AdminToken string

	// SignatureChecker checks the wallets' signatures; the banks of one
	// process share one, so that their instructions are checked in the
	// same batches. Nil: the bank has one of its own.
	SignatureChecker *SignatureChecker

	Logger *slog.Logger
	Now    func() time.Time

	// OnRequest, if set, is told of every wallet request answered: its
	// type, the error code ("" when it succeeded) and how long it took.
	// It must not block: metrics count here.
	OnRequest func(typ, code string, took time.Duration)
}

func (c *Config) setDefaults() {
	if len(c.Tiers) == 0 {
		c.Tiers = DefaultTiers
	}
	if c.OpeningDeposit == 0 {
		c.OpeningDeposit = DefaultOpeningDeposit
	}
	if c.Reserves == 0 {
		c.Reserves = DefaultReserves
	}
	if c.FloatLow == 0 {
		c.FloatLow = DefaultFloatLow
	}
	if c.FloatTarget == 0 {
		c.FloatTarget = DefaultFloatTarget
	}
	if c.RatePerSecond == 0 {
		c.RatePerSecond = DefaultRatePerSecond
	}
	if c.RateBurst == 0 {
		c.RateBurst = DefaultRateBurst
	}
	if c.SignatureChecker == nil {
		c.SignatureChecker = NewSignatureChecker()
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxWaitingPerAddress == 0 {
		c.MaxWaitingPerAddress = DefaultMaxWaitingPerAddress
	}
	if c.RegistrationsPerMinute == 0 {
		c.RegistrationsPerMinute = DefaultRegistrationsPerMinute
	}
	if c.RetryEvery == 0 {
		c.RetryEvery = DefaultRetryEvery
	}
	if c.ReadyEvery == 0 {
		c.ReadyEvery = DefaultReadyEvery
	}
	if c.LogEvery == 0 {
		c.LogEvery = DefaultLogEvery
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate says what is wrong with a configuration, every problem at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("intermediary: "+format, args...)) }
	if !validBankID(string(c.ID)) {
		bad("the bank's id must be 1 to 40 letters, digits or ._- (it is part of wallet addresses), got %q", c.ID)
	}
	if c.Ledger == nil {
		bad("no ledger to connect to")
	} else if c.Ledger.ID() != c.ID {
		bad("the ledger connection acts as %s, not %s", c.Ledger.ID(), c.ID)
	}
	if c.Path == "" {
		bad("no path for the bank's data file")
	}
	if len(c.HolderKey) < 16 {
		bad("the holder key must be at least 16 bytes, got %d", len(c.HolderKey))
	}
	if c.Offline != nil && len(c.OfflineKey) != ed25519.PrivateKeySize {
		bad("offline purses need the bank's ed25519 offline key")
	}
	if len(c.AdminToken) < 16 {
		bad("the admin token must be at least 16 characters")
	}
	seen := map[string]bool{}
	for _, t := range c.Tiers {
		if t.Name == "" || seen[t.Name] || t.HoldingLimit < 0 || t.PaymentLimit < 0 {
			bad("tier %q: names must be unique and limits not negative", t.Name)
		}
		seen[t.Name] = true
	}
	switch {
	case c.OpeningDeposit < 0 || c.Reserves < 0:
		bad("opening deposit and reserves must not be negative")
	case c.FloatLow < 0 || c.FloatTarget < c.FloatLow:
		bad("float target (%d) must be at least the low mark (%d), both not negative", c.FloatTarget, c.FloatLow)
	case c.RatePerSecond < 0 || c.RateBurst < 0 || c.MaxInFlight < 0 || c.MaxWaitingPerAddress < 0 || c.RegistrationsPerMinute < 0:
		bad("rate limits and connection bounds must not be negative")
	}
	return errors.Join(errs...)
}

func validBankID(id string) bool {
	_, _, ok := protocol.ParseWalletAddress("w-00000000000000000000@" + id)
	return ok && !strings.ContainsAny(id, ":@")
}

func (c *Config) tier(name string) (Tier, bool) {
	for _, t := range c.Tiers {
		if t.Name == name {
			return t, true
		}
	}
	return Tier{}, false
}

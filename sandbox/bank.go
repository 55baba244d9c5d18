package sandbox

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/intermediary/gateway"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/metrics"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// BankConfig is one intermediary served on its listener, as `cbdc bank`
// and the sandbox run it.
type BankConfig struct {
	ID      ledger.AccountID
	Ledger  intermediary.Ledger // the ledger in this process, or a ledgerhttp client
	DataDir string              // the bank's directory: bank.db and admin.token

	HolderKey  []byte
	AdminToken string // "" reads or creates DataDir/admin.token
	Offline    intermediary.Offline
	OfflineKey ed25519.PrivateKey

	Listen   string
	BindWait time.Duration // how long to wait for the address while it is in use; none when 0
	TLS      *tls.Config   // serve wallets and the admin API over TLS when set
	Origins  []string
	Waiting  int     // connections one address may hold before signing in; the bank's default when 0
	Rate     float64 // instructions a second a wallet may send; the bank's default when 0
	Burst    int

	// SignatureChecker is shared by the banks of one process, so their
	// wallets' signatures are checked in the same batches; nil: the
	// bank's own.
	SignatureChecker *intermediary.SignatureChecker

	Logger  *slog.Logger
	Metrics *metrics.Metrics // the process's registry, served at /metrics; nil: none
}

// Bank is an intermediary serving wallets and its admin API.
type Bank struct {
	*intermediary.Bank
	Addr  string // where it listens
	Token string // its admin token

	tls      bool
	gw       *gateway.Server
	srv      *http.Server
	served   chan struct{} // closed when serving ended; serveErr says why
	serveErr error
	stopOnce sync.Once
	stopErr  error
}

// WalletURL is where wallets open sessions.
func (b *Bank) WalletURL() string {
	if b.tls {
		return "wss://" + b.Addr + protocol.Path
	}
	return "ws://" + b.Addr + protocol.Path
}

// AppWallets lists the wallets that signed in from a browser, such as
// the room's phones (see gateway.Server.AppWallets).
func (b *Bank) AppWallets() []bankadmin.AppWallet { return b.gw.AppWallets() }

// AdminURL is the root of the bank's admin API.
func (b *Bank) AdminURL() string {
	if b.tls {
		return "https://" + b.Addr + "/admin/"
	}
	return "http://" + b.Addr + "/admin/"
}

// StartBank opens a bank against its ledger connection and serves it.
func StartBank(ctx context.Context, c BankConfig) (*Bank, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	token := c.AdminToken
	if token == "" {
		var err error
		if token, err = LoadOrCreateSecret(filepath.Join(c.DataDir, "admin.token"), RandomHex(16)); err != nil {
			return nil, fmt.Errorf("%s admin token: %w", c.ID, err)
		}
	}
	ln, err := ListenRetry(ctx, c.Listen, c.TLS, c.BindWait, c.Logger)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", c.ID, c.Listen, err)
	}
	b, err := intermediary.Open(ctx, intermediary.Config{ID: c.ID, Ledger: c.Ledger, Path: filepath.Join(c.DataDir, "bank.db"),
		HolderKey: c.HolderKey, AdminToken: token, Origins: c.Origins, RatePerSecond: c.Rate, RateBurst: c.Burst,
		MaxWaitingPerAddress: c.Waiting, Logger: c.Logger, Offline: c.Offline, OfflineKey: c.OfflineKey,
		SignatureChecker: c.SignatureChecker, OnRequest: c.Metrics.OnRequest(string(c.ID))})
	if err != nil {
		ln.Close()
		return nil, err
	}
	c.Metrics.WatchBanks(b)
	gw := gateway.New(b)
	r := &Bank{Bank: b, Addr: ln.Addr().String(), tls: c.TLS != nil, Token: token, served: make(chan struct{}), gw: gw,
		srv: &http.Server{Handler: WithMetrics(gw.Handler(), c.Metrics), ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		r.serveErr = r.srv.Serve(ln)
		close(r.served)
	}()
	return r, nil
}

// Served is closed when the bank stops serving, by Stop or because
// serving failed; Stop then says why.
func (b *Bank) Served() <-chan struct{} { return b.served }

// Stop stops taking connections, drains the wallet sessions and closes
// the bank. It may be called again, and answers the same.
func (b *Bank) Stop() error {
	b.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		err := b.srv.Shutdown(ctx)
		if cerr := b.Bank.Close(); err == nil {
			err = cerr
		}
		<-b.served
		if !errors.Is(b.serveErr, http.ErrServerClosed) && err == nil {
			err = b.serveErr
		}
		b.stopErr = err
	})
	return b.stopErr
}

// WithMetrics serves the process's metrics at /metrics beside h.
func WithMetrics(h http.Handler, m *metrics.Metrics) http.Handler {
	if m == nil {
		return h
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("/", h)
	return mux
}

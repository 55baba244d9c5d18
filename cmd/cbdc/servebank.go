package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/metrics"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// bankOptions are what `cbdc bank` and `cbdc sandbox` set for each bank.
type bankOptions struct {
	dataDir    string // the bank's directory: bank.db and admin.token
	holderKey  []byte
	listen     string
	bindWait   time.Duration // how long to wait for the address while it is in use; none when 0
	tls        *tls.Config   // serve wallets and the admin API over TLS when set
	origins    []string
	waiting    int // connections one address may hold before signing in; the bank's default when 0
	rate       float64
	log        *slog.Logger
	adminToken string // "" reads or creates dataDir/admin.token
	offline    intermediary.Offline
	offlineKey ed25519.PrivateKey
	metrics    *metrics.Metrics // the process's registry, served at /metrics
}

// runningBank is a bank serving on its listener.
type runningBank struct {
	bank  *intermediary.Bank
	srv   *http.Server
	addr  string
	tls   bool
	token string
	done  chan error
}

func (r *runningBank) walletURL() string {
	if r.tls {
		return "wss://" + r.addr + protocol.Path
	}
	return "ws://" + r.addr + protocol.Path
}

func (r *runningBank) adminURL() string {
	if r.tls {
		return "https://" + r.addr + "/admin/"
	}
	return "http://" + r.addr + "/admin/"
}

// startBank opens a bank against its ledger connection and serves it.
func startBank(ctx context.Context, id ledger.AccountID, led intermediary.Ledger, o bankOptions) (*runningBank, error) {
	token := o.adminToken
	if token == "" {
		var err error
		if token, err = loadOrCreateSecret(filepath.Join(o.dataDir, "admin.token"), randomHex(16)); err != nil {
			return nil, fmt.Errorf("%s admin token: %w", id, err)
		}
	}
	ln, err := listenRetry(ctx, o.listen, o.tls, o.bindWait, o.log)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", id, o.listen, err)
	}
	b, err := intermediary.Open(ctx, intermediary.Config{ID: id, Ledger: led, Path: filepath.Join(o.dataDir, "bank.db"),
		HolderKey: o.holderKey, AdminToken: token, Origins: o.origins, RatePerSecond: o.rate, MaxWaitingPerAddress: o.waiting, Logger: o.log,
		Offline: o.offline, OfflineKey: o.offlineKey, OnRequest: o.metrics.OnRequest(string(id))})
	if err != nil {
		ln.Close()
		return nil, err
	}
	o.metrics.WatchBanks(b)
	r := &runningBank{bank: b, addr: ln.Addr().String(), tls: o.tls != nil, token: token, done: make(chan error, 1),
		srv: &http.Server{Handler: withMetrics(b.Handler(), o.metrics), ReadHeaderTimeout: 10 * time.Second}}
	go func() { r.done <- r.srv.Serve(ln) }()
	return r, nil
}

// stop stops taking connections, drains the wallet sessions and closes the bank.
func (r *runningBank) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	if cerr := r.bank.Close(); err == nil {
		err = cerr
	}
	if serr := <-r.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// withMetrics serves the process's metrics at /metrics beside h.
func withMetrics(h http.Handler, m *metrics.Metrics) http.Handler {
	if m == nil {
		return h
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("/", h)
	return mux
}

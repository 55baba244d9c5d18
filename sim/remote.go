package sim

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// RemoteBank is a running `cbdc bank` the simulator drives by address.
type RemoteBank struct {
	URL        string // its base address, such as http://127.0.0.1:7401
	AdminToken string // its admin API token (DATA/admin.token)
}

// Remote is a sandbox running in other processes: the banks, and
// optionally a view of the central ledger for money by tier and the
// conservation check.
type Remote struct {
	Banks  []RemoteBank
	Ledger *ledgerhttp.Client // signed in with a bank's credential; nil to run without
	// TLS is the client configuration for https:// banks, such as one
	// trusting a local authority; nil for the system's roots.
	TLS *tls.Config
}

// OpenRemote builds the scenario's world on running banks: it onboards
// every party at its bank with a new key (drawn from the seed and a salt of
// this run, so a second run meets no one it onboarded before), puts its
// starting balance in its deposit account, has the bank issue the float
// the starting balances need, and opens up to sessions payer sessions,
// which withdraw their starting balances.
func OpenRemote(ctx context.Context, sc *Scenario, rm Remote, sessions int) (_ *World, err error) {
	if len(rm.Banks) != sc.Banks {
		return nil, fmt.Errorf("sim: the scenario has %d banks and %d bank addresses were given", sc.Banks, len(rm.Banks))
	}
	w := &World{sc: sc, remote: true, remoteLedger: rm.Ledger, salt: make([]byte, 16)}
	var hc *http.Client
	if rm.TLS != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = rm.TLS
		hc = &http.Client{Timeout: 30 * time.Second, Transport: tr}
		d := *websocket.DefaultDialer
		d.TLSClientConfig = rm.TLS
		w.dialer = &d
	}
	defer func() {
		if err != nil {
			w.Close() // the sessions opened before the failure
		}
	}()
	rand.Read(w.salt)
	admins := make([]*bankadmin.Client, len(rm.Banks))
	for b, rb := range rm.Banks {
		u, err := url.Parse(rb.URL)
		if err == nil {
			u.Scheme = strings.ToLower(u.Scheme)
		}
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("sim: bank address %q is not an http:// or https:// address", rb.URL)
		}
		admins[b] = bankadmin.New(rb.URL, rb.AdminToken, hc)
		st, err := admins[b].Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("sim: bank at %s: %w", rb.URL, err)
		}
		switch {
		case st.Bank == "":
			return nil, fmt.Errorf("sim: the bank at %s did not name itself in /admin/status", rb.URL)
		case slices.Contains(w.bankIDs, st.Bank):
			return nil, fmt.Errorf("sim: two of the -banks addresses are %s", st.Bank)
		}
		w.bankIDs = append(w.bankIDs, st.Bank)
		ws := *u
		ws.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
		ws.Path = strings.TrimSuffix(u.Path, "/") + protocol.Path
		w.urls = append(w.urls, ws.String())
	}
	if rm.Ledger != nil {
		if _, err := rm.Ledger.Totals(ctx); err != nil {
			return nil, fmt.Errorf("sim: reading the ledger's totals with the -ledger-key credential: %w", err)
		}
	}
	w.drawParties()
	for b, a := range admins {
		var need int64
		for i := b; i < len(w.parties); i += sc.Banks {
			need += w.parties[i].Start
		}
		if need > 0 {
			if _, err := a.IssueFloat(ctx, "", need); err != nil {
				return nil, fmt.Errorf("sim: float for %s: %w", w.bankIDs[b], err)
			}
		}
	}
	if err := w.onboardRemote(ctx, admins); err != nil {
		return nil, err
	}
	if err := w.connect(ctx, min(sessions, sc.Wallets)); err != nil {
		return nil, err
	}
	return w, nil
}

// onboardRemote onboards every party through its bank's admin API, 32 at
// a time.
func (w *World) onboardRemote(ctx context.Context, admins []*bankadmin.Client) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	failed := 0
	sem := make(chan struct{}, 32)
	for _, p := range w.parties {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := admins[p.Bank].Onboard(ctx, p.Customer(DepositAccount+p.Start)); err != nil {
				mu.Lock()
				failed++
				if len(errs) < 3 {
					errs = append(errs, fmt.Errorf("sim: onboard party %d at %s: %w", p.N, w.bankIDs[p.Bank], err))
				}
				mu.Unlock()
			}
		})
		if ctx.Err() != nil {
			break
		}
	}
	wg.Wait()
	if failed > 0 {
		return fmt.Errorf("sim: %d of %d parties could not be onboarded, the first: %w", failed, len(w.parties), errors.Join(errs...))
	}
	return nil
}

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
	"github.com/digital-yen/cbdc-sandbox/ledger"
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

var _ Sandbox = (*RemoteSandbox)(nil)

// RemoteSandbox is a sandbox running in other processes, driven through
// each bank's admin API and, if it was given one, a bank's view of the
// ledger.
type RemoteSandbox struct {
	banks  []Bank
	admins []*bankadmin.Client // by bank
	ledger *ledgerhttp.Client  // nil to run without
	dialer *websocket.Dialer   // for wss:// banks; nil for the default
}

// ConnectRemote reaches the running banks: each must answer its admin API
// and name itself, and the ledger view, if given, must read the ledger's
// totals.
func ConnectRemote(ctx context.Context, rm Remote) (*RemoteSandbox, error) {
	s := &RemoteSandbox{ledger: rm.Ledger}
	var hc *http.Client
	if rm.TLS != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = rm.TLS
		hc = &http.Client{Timeout: 30 * time.Second, Transport: tr}
		d := *websocket.DefaultDialer
		d.TLSClientConfig = rm.TLS
		s.dialer = &d
	}
	for _, rb := range rm.Banks {
		u, err := url.Parse(rb.URL)
		if err == nil {
			u.Scheme = strings.ToLower(u.Scheme)
		}
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("sim: bank address %q is not an http:// or https:// address", rb.URL)
		}
		admin := bankadmin.New(rb.URL, rb.AdminToken, hc)
		st, err := admin.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("sim: bank at %s: %w", rb.URL, err)
		}
		switch {
		case st.Bank == "":
			return nil, fmt.Errorf("sim: the bank at %s did not name itself in /admin/status", rb.URL)
		case slices.ContainsFunc(s.banks, func(b Bank) bool { return b.ID == st.Bank }):
			return nil, fmt.Errorf("sim: two of the -banks addresses are %s", st.Bank)
		}
		ws := *u
		ws.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
		ws.Path = strings.TrimSuffix(u.Path, "/") + protocol.Path
		s.banks = append(s.banks, Bank{ID: st.Bank, WalletURL: ws.String()})
		s.admins = append(s.admins, admin)
	}
	if rm.Ledger != nil {
		if _, err := rm.Ledger.Totals(ctx); err != nil {
			return nil, fmt.Errorf("sim: reading the ledger's totals with the -ledger-key credential: %w", err)
		}
	}
	return s, nil
}

// OpenRemote builds the scenario's world on running banks: it onboards
// every party at its bank with a new key (drawn from the seed and a salt of
// this run, so a second run meets no one it onboarded before), puts its
// starting balance in its deposit account, has the bank issue the float
// the starting balances need, and opens up to sessions payer sessions,
// which withdraw their starting balances.
func OpenRemote(ctx context.Context, sc *Scenario, rm Remote, sessions int) (*World, error) {
	if len(rm.Banks) != sc.Banks {
		return nil, fmt.Errorf("sim: the scenario has %d banks and %d bank addresses were given", sc.Banks, len(rm.Banks))
	}
	s, err := ConnectRemote(ctx, rm)
	if err != nil {
		return nil, err
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	return NewWorld(ctx, sc, s, salt, sessions)
}

// Admin is bank b's admin API.
func (s *RemoteSandbox) Admin(b int) *bankadmin.Client { return s.admins[b] }

func (s *RemoteSandbox) Banks() []Bank             { return s.banks }
func (s *RemoteSandbox) Dialer() *websocket.Dialer { return s.dialer }

// IssueFloat has the bank issue itself the float.
func (s *RemoteSandbox) IssueFloat(ctx context.Context, bank int, amount int64) error {
	if _, err := s.admins[bank].IssueFloat(ctx, "", amount); err != nil {
		return fmt.Errorf("sim: float for %s: %w", s.banks[bank].ID, err)
	}
	return nil
}

// Onboard onboards every party through its bank's admin API, 32 at a
// time, with its starting balance on deposit, asking again while a bank's
// answer decides nothing (see askAgain).
func (s *RemoteSandbox) Onboard(ctx context.Context, parties []Party) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	failed := 0
	sem := make(chan struct{}, 32)
	for _, p := range parties {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			// A bank stores nothing of a customer until its wallets are
			// open at the ledger, so an onboarding whose answer decided
			// nothing can be asked again.
			err := askAgain(ctx, func() error {
				_, err := s.admins[p.Bank].Onboard(ctx, p.Customer(DepositAccount+p.Start))
				return err
			})
			if err != nil {
				mu.Lock()
				failed++
				if len(errs) < 3 {
					errs = append(errs, fmt.Errorf("sim: onboard party %d at %s: %w", p.N, s.banks[p.Bank].ID, err))
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
		return fmt.Errorf("sim: %d of %d parties could not be onboarded, the first: %w", failed, len(parties), errors.Join(errs...))
	}
	return nil
}

// StartOnDeposit is true: only a bank moves CBDC to its wallets.
func (s *RemoteSandbox) StartOnDeposit() bool { return true }

// Totals reads the ledger's totals through the ledger view; false without
// one, or when the ledger does not answer.
func (s *RemoteSandbox) Totals(ctx context.Context) (ledger.Totals, bool) {
	if s.ledger == nil {
		return ledger.Totals{}, false
	}
	t, err := s.ledger.Totals(ctx)
	return t, err == nil
}

// Holdings is nil: a bank shows no one its customers' wallets but their
// own sessions.
func (s *RemoteSandbox) Holdings(context.Context) ([]int64, error) { return nil, nil }

// CloseWindow does nothing: the ledger closes its window on its own timer.
func (s *RemoteSandbox) CloseWindow(context.Context) error { return nil }

// EndOfflinePeriod does nothing: the ledger's clock is its own.
func (s *RemoteSandbox) EndOfflinePeriod(context.Context) error { return nil }

// Settlement is not available: the ledger's settlement answers only the
// purses that sync with it.
func (s *RemoteSandbox) Settlement() (Settlement, bool) { return nil, false }

// Close has nothing to end: the banks and the ledger run on.
func (s *RemoteSandbox) Close() error { return nil }

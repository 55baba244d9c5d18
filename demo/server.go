// Package demo is the sandbox's stakeholder demo: a web page, served from
// assets embedded in the binary, that shows the two tiers at work with live
// figures and lets a presenter issue CBDC, create wallets at any bank, pay,
// and follow the messages between wallet, bank and ledger.
//
// The demo's wallets are real wallet clients held by the demo server: each
// speaks the wallet protocol to its bank over a websocket, as a phone
// would, and the page is their screen.
package demo

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

//go:embed web
var webFS embed.FS

// Bank is one of the sandbox's intermediaries as the demo sees it.
type Bank struct {
	Bank      *intermediary.Bank
	WalletURL string // its wallet websocket, ws://host:port/v1/wallet
}

// Config is what the demo shows and drives.
type Config struct {
	Ledger  *ledger.Ledger
	Settler *settlement.Settler // nil when offline payments are off
	Banks   []Bank
	Log     *slog.Logger
}

// Server serves the demo page, its API and its live updates.
type Server struct {
	cfg  Config
	mux  *http.ServeMux
	live *hub

	mu      sync.Mutex // protects wallets, nextID and purses
	wallets []*demoWallet
	nextID  int
	purses  map[string]string // purse serial → the demo wallet's name

	scen scenarioRunner

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New starts the demo's live feed from the ledger.
func New(cfg Config) (*Server, error) {
	if cfg.Ledger == nil || len(cfg.Banks) == 0 {
		return nil, errors.New("demo: needs the ledger and at least one bank")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), live: newHub(), purses: map[string]string{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	web, _ := fs.Sub(webFS, "web")
	s.mux.Handle("GET /", http.FileServerFS(web))
	s.mux.HandleFunc("GET /api/state", s.handleState)
	s.mux.HandleFunc("GET /api/live", s.handleLive)
	s.mux.HandleFunc("POST /api/banks/{bank}/issue", s.handleFloat(true))
	s.mux.HandleFunc("POST /api/banks/{bank}/redeem", s.handleFloat(false))
	s.mux.HandleFunc("GET /api/banks/{bank}/customers", s.handleCustomers)
	s.mux.HandleFunc("POST /api/banks/{bank}/customers/{id}/tier", s.handleSetTier)
	s.mux.HandleFunc("GET /api/wallets", s.handleWallets)
	s.mux.HandleFunc("POST /api/wallets", s.handleCreateWallet)
	s.mux.HandleFunc("POST /api/wallets/{id}/{action}", s.handleWalletAction)
	s.mux.HandleFunc("POST /api/wallets/{id}/offline/{action}", s.handleOffline)
	s.mux.HandleFunc("GET /api/scenarios", s.handleScenarios)
	s.mux.HandleFunc("POST /api/scenarios/{name}/run", s.handleStartScenario)
	s.mux.HandleFunc("GET /api/scenarios/report", s.handleScenarioReport)
	s.wg.Go(s.followLedger)
	s.wg.Go(s.pushState)
	return s, nil
}

// Handler serves the page and the API.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.guard) }

// guard keeps other web sites out of the demo, which has no login: a
// request must name the demo by an IP address or localhost (a site that
// rebinds its own name to this machine is refused), and a change must be
// JSON sent by the demo's own page (a form on another site cannot send
// it, and a script there cannot without the CORS answer the demo never
// gives).
func (s *Server) guard(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if net.ParseIP(host) == nil && host != "localhost" {
		writeError(w, http.StatusForbidden, "bad_host", "the demo answers only to an IP address or localhost, not %q", r.Host)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			writeError(w, http.StatusUnsupportedMediaType, "bad_request", "changes are JSON: send Content-Type application/json")
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
			writeError(w, http.StatusForbidden, "bad_origin", "the demo takes changes only from its own page, not from %s", o)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// Close ends the live feed and the demo's wallet sessions.
func (s *Server) Close() error {
	s.cancel()
	s.live.close()
	s.mu.Lock()
	for _, w := range s.wallets {
		w.close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) bank(id string) (Bank, bool) {
	for _, b := range s.cfg.Banks {
		if string(b.Bank.ID()) == id {
			return b, true
		}
	}
	return Bank{}, false
}

// pathBank is the bank the request's path names, or a 404 answered.
func (s *Server) pathBank(w http.ResponseWriter, r *http.Request) (Bank, bool) {
	b, ok := s.bank(r.PathValue("bank"))
	if !ok {
		writeError(w, http.StatusNotFound, "unknown_bank", "no bank %q", r.PathValue("bank"))
	}
	return b, ok
}

// State is the overview the page draws: the two tiers with their figures.
type State struct {
	Time        time.Time         `json:"time"`
	Totals      ledger.Totals     `json:"totals"`
	Banks       []BankState       `json:"banks"`
	Offline     *OfflineState     `json:"offline,omitempty"`
	Throughput  []ThroughputPoint `json:"throughput"` // ledger operations a second, the last minute
	WalletCount int               `json:"wallet_count"`
}

// BankState is one intermediary's position.
type BankState struct {
	intermediary.Status
	Error string `json:"error,omitempty"` // the bank's status could not be read
}

// OfflineState is offline settlement at the central ledger.
type OfflineState struct {
	Vouchers       int              `json:"vouchers"`
	Settled        int              `json:"settled"`
	Pending        int              `json:"pending"`
	PendingAmount  int64            `json:"pending_amount"`
	Rejected       int              `json:"rejected"`
	Devices        int              `json:"devices"`
	RevokedDevices int              `json:"revoked_devices"`
	Conflicts      map[string]int   `json:"conflicts"`
	LossByBearer   map[string]int64 `json:"loss_by_bearer"`
	LossByPayees   int64            `json:"loss_by_payees"`
	Policy         string           `json:"policy"`
}

// ThroughputPoint is one second of ledger activity.
type ThroughputPoint struct {
	T         int64 `json:"t"` // Unix seconds
	Ops       int   `json:"ops"`
	Transfers int   `json:"transfers"`
}

func (s *Server) state(ctx context.Context) State {
	st := State{Time: time.Now(), Totals: s.cfg.Ledger.Totals(), Throughput: s.live.throughput()}
	for _, b := range s.cfg.Banks {
		status, err := b.Bank.Status(ctx)
		bs := BankState{Status: status}
		if err != nil {
			bs.Bank, bs.Error = string(b.Bank.ID()), err.Error()
		}
		st.Banks = append(st.Banks, bs)
	}
	if s.cfg.Settler != nil {
		sum := s.cfg.Settler.Summary()
		o := &OfflineState{Vouchers: sum.Vouchers, Settled: sum.Settled, Pending: sum.Pending, PendingAmount: sum.PendingAmount.Clamp(),
			Rejected: sum.Rejected, Devices: sum.Devices, RevokedDevices: sum.RevokedDevices, Conflicts: map[string]int{},
			LossByBearer: map[string]int64{}, LossByPayees: sum.LossByPayees.Clamp(), Policy: policyText(s.cfg.Settler.Policy())}
		for k, v := range sum.Conflicts {
			o.Conflicts[string(k)] = v
		}
		for k, v := range sum.LossByBearer {
			o.LossByBearer[string(k)] = v.Clamp()
		}
		st.Offline = o
	}
	s.mu.Lock()
	st.WalletCount = len(s.wallets)
	s.mu.Unlock()
	return st
}

func (s *Server) handleState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.state(r.Context()))
}

// pushState sends the overview to every live page once a second.
func (s *Server) pushState() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		if s.live.listeners() > 0 {
			s.live.send(message{Type: "state", State: ptr(s.state(s.ctx))})
		}
	}
}

func ptr[T any](v T) *T { return &v }

// followLedger turns every committed ledger operation into a line of the
// event feed and a count for the throughput chart.
func (s *Server) followLedger() {
	for {
		sub := s.cfg.Ledger.Subscribe(1 << 16)
		stop := context.AfterFunc(s.ctx, sub.Close)
		for e := range sub.C {
			s.live.countOp(e)
			s.live.event(ledgerEvent(e))
		}
		stop()
		if s.ctx.Err() != nil || !errors.Is(sub.Err(), ledger.ErrSlowSubscriber) {
			return
		}
		// fell behind under load: the feed skips ahead
	}
}

// ledgerEvent describes a committed operation as a message to the ledger
// and its receipt.
func ledgerEvent(e ledger.Event) Event {
	from := string(e.Origin)
	if from == "" {
		from = "central bank"
	}
	var amount int64
	for _, t := range e.Transfers {
		amount += t.Amount
	}
	label := e.Op
	switch e.Op {
	case "transfer", "batch", "issue", "redeem":
		label = fmt.Sprintf("%s %s yen", e.Op, yen(amount))
	case "open":
		label = "open " + string(e.Account)
	}
	return Event{Time: e.Time, From: from, To: "ledger", Label: label, Detail: fmt.Sprintf("journal record %d, op %s", e.Seq, e.OpID)}
}

func (s *Server) handleFloat(issue bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, ok := s.pathBank(w, r)
		if !ok {
			return
		}
		var req struct {
			Amount int64 `json:"amount"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		move, verb := b.Bank.RedeemFloat, "redeem"
		if issue {
			move, verb = b.Bank.IssueFloat, "issue"
		}
		st, err := move(r.Context(), req.Amount)
		if err != nil {
			s.live.event(Event{Time: time.Now(), From: "central bank", To: string(b.Bank.ID()), Label: fmt.Sprintf("refused to %s %s yen of float: %s", verb, yen(req.Amount), errorText(err)), Error: true})
			writeErr(w, err)
			return
		}
		s.live.event(Event{Time: time.Now(), From: string(b.Bank.ID()), To: "central bank", Label: fmt.Sprintf("%s %s yen of float against reserves", verb, yen(req.Amount))})
		writeJSON(w, http.StatusOK, st)
	}
}

func (s *Server) handleCustomers(w http.ResponseWriter, r *http.Request) {
	b, ok := s.pathBank(w, r)
	if !ok {
		return
	}
	ids := b.Bank.Customers()
	out := []intermediary.CustomerInfo{}
	for _, id := range ids[max(0, len(ids)-200):] { // the newest 200
		c, err := b.Bank.Customer(id)
		if err == nil {
			out = append(out, c)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"customers": out, "count": len(ids), "tiers": intermediary.DefaultTiers})
}

// handleSetTier moves a customer to another KYC tier, as the bank would
// after checking more of who they are.
func (s *Server) handleSetTier(w http.ResponseWriter, r *http.Request) {
	b, ok := s.pathBank(w, r)
	if !ok {
		return
	}
	var req struct {
		Tier string `json:"tier"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	c, err := b.Bank.SetTier(r.Context(), r.PathValue("id"), req.Tier)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.live.event(Event{Time: time.Now(), From: string(b.Bank.ID()), To: "ledger", Label: fmt.Sprintf("%s is now %s tier: holding limit %s yen", c.Name, c.Tier.Name, yen(c.Tier.HoldingLimit))})
	writeJSON(w, http.StatusOK, c)
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "the request body is not the JSON this call takes: %v", err)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, format string, args ...any) {
	writeJSON(w, status, map[string]*protocol.Error{"error": {Code: code, Message: fmt.Sprintf(format, args...)}})
}

// writeErr answers with a protocol error's code and message, or a plain
// failure.
func writeErr(w http.ResponseWriter, err error) {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]*protocol.Error{"error": pe})
		return
	}
	writeError(w, http.StatusInternalServerError, "failed", "%v", err)
}

// yen formats an amount with thousands separators.
func yen(v int64) string {
	neg := v < 0
	if neg {
		v = -v
	}
	s := fmt.Sprint(v)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

func policyText(p offline.Policy) string {
	return fmt.Sprintf("%s mode, up to %s yen a payment and %s a purse, a sync after %d payments, losses borne by %s",
		p.Mode, yen(p.PaymentCap), yen(p.PurseCap), p.PaymentsBeforeSync, p.LossBearer)
}

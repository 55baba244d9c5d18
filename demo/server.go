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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/internal/jsonbody"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/gorilla/websocket"
)

//go:embed web
var webFS embed.FS

// Bank is one of the sandbox's intermediaries as the demo sees it.
type Bank struct {
	Bank      *intermediary.Bank
	WalletURL string // its wallet websocket, ws://host:port/v1/wallet
	// Phones, when set, lists the wallets that signed in from a browser
	// (its gateway's AppWallets), for the panel of phones.
	Phones func() []bankadmin.AppWallet
}

// Ledger is the central ledger as the demo reads it: a *ledger.Ledger,
// a replicated ledger read at whichever of its replicas is live
// (sandbox.Cluster), or a ledger in other processes (RemoteLedger). It
// is also a Subscriber, which the demo follows as operations commit, or
// a JournalWaiter, which it follows by reading on from the last
// operation it showed.
type Ledger interface {
	Totals() ledger.Totals
	Recount() (running, counted ledger.Totals)
}

// Subscriber is a ledger in this process, whose committed operations the
// demo is sent as they commit. A subscription ends when the replica it
// follows stops; the demo then subscribes again, at another, and reads
// what it missed from the journal with Events, by sequence number.
type Subscriber interface {
	Subscribe(buffer int) *ledger.Subscription
	Events(from uint64, limit int) ([]ledger.Event, error)
}

// JournalWaiter is a ledger the demo follows by reading its journal:
// Head is its last record, and WaitEvents returns the committed
// operations from sequence from on, at most limit, waiting a while for
// one at from when there is none yet.
type JournalWaiter interface {
	Head() (uint64, error)
	WaitEvents(from uint64, limit int) ([]ledger.Event, error)
}

// Config is what the demo shows and drives.
type Config struct {
	Ledger Ledger
	// Offline is offline settlement, as the overview shows it; nil when
	// the ledger settles no offline vouchers.
	Offline Settlement
	Banks   []Bank
	// Replicas, for a replicated ledger, are its replicas, which the page
	// shows and the presenter may stop and start; nil for a lone ledger.
	Replicas Replicas
	Log      *slog.Logger
	// Room, with cbdc sandbox -room, is the authority phones trust; its
	// /join page hands it out with each bank's wallet app. Nil otherwise.
	Room *Room
	// Dir keeps the room (the demo's wallets, their keys and purses, and
	// the log of offline payments) across restarts; empty keeps it in
	// memory only.
	Dir string
}

// Server serves the demo page, its API and its live updates.
type Server struct {
	cfg  Config
	mux  *http.ServeMux
	live *hub

	store *roomStore

	mu      sync.Mutex // protects wallets, nextID, purses, log and logSeq
	wallets []*demoWallet
	nextID  int
	purses  map[string]string // purse serial → the demo wallet's name
	log     []logEntry        // offline payments and reconciliations, oldest first
	logSeq  uint64
	resetMu sync.Mutex // one reset at a time; protects resets
	resets  int64      // resets done since the demo started

	recountMu sync.Mutex // protects recounted
	recounted struct {
		totals    ledger.Totals
		conserved bool
	}
	// changes is held for reading by every change the page asks of the
	// room, and for writing by a reset, so none falls between the reset's
	// list of wallets and its clearing of the room.
	changes sync.RWMutex

	scen scenarioRunner

	roomDialer sync.Once         // makes wsDialer
	wsDialer   *websocket.Dialer // the demo's wallets' dialer in a room

	meter       pauseMeter // the pause after each replica stopped
	heartbeat   heartbeat  // payments through a stop, so its pause is measured
	replicaOp   sync.Mutex // one stop or start of a replica at a time
	replicaMu   sync.Mutex // protects replicaBusy
	replicaBusy string     // "stop" or "start" while one is under way

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New starts the demo's live feed from the ledger.
func New(cfg Config) (*Server, error) {
	if cfg.Ledger == nil || len(cfg.Banks) == 0 {
		return nil, errors.New("demo: needs the ledger and at least one bank")
	}
	_, subscribes := cfg.Ledger.(Subscriber)
	if _, reads := cfg.Ledger.(JournalWaiter); !subscribes && !reads {
		return nil, errors.New("demo: the ledger can be neither subscribed to nor read on (a Subscriber or a JournalWaiter)")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	store, err := openRoom(cfg.Dir)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), live: newHub(), purses: map[string]string{}, store: store}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.heartbeat.dial = s.dialer()
	if err := s.restore(); err != nil {
		store.close()
		return nil, err
	}
	web, _ := fs.Sub(webFS, "web")
	s.mux.Handle("GET /", http.FileServerFS(web))
	s.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/favicon.svg", http.StatusMovedPermanently)
	})
	s.mux.HandleFunc("POST /api/room/reset", s.handleReset)
	s.mux.HandleFunc("GET /api/state", s.handleState)
	s.mux.HandleFunc("GET /api/live", s.handleLive)
	s.mux.HandleFunc("POST /api/banks/{bank}/issue", s.handleFloat(true))
	s.mux.HandleFunc("POST /api/banks/{bank}/redeem", s.handleFloat(false))
	s.mux.HandleFunc("GET /api/banks/{bank}/customers", s.handleCustomers)
	s.mux.HandleFunc("POST /api/banks/{bank}/customers/{id}/tier", s.handleSetTier)
	s.mux.HandleFunc("GET /api/wallets", s.handleWallets)
	s.mux.HandleFunc("POST /api/wallets", s.change(s.handleCreateWallet))
	s.mux.HandleFunc("POST /api/wallets/{id}/{action}", s.change(s.handleWalletAction))
	s.mux.HandleFunc("POST /api/wallets/{id}/offline/{action}", s.change(s.handleOffline))
	s.mux.HandleFunc("GET /api/scenarios", s.handleScenarios)
	s.mux.HandleFunc("POST /api/scenarios/{name}/run", s.handleStartScenario)
	s.mux.HandleFunc("GET /api/scenarios/report", s.handleScenarioReport)
	s.mux.HandleFunc("GET /join", s.handleJoin)
	s.mux.HandleFunc("GET /room/ca.crt", s.handleRoomCA)
	s.mux.HandleFunc("GET /api/replicas", s.handleReplicas)
	s.mux.HandleFunc("GET /api/phones", s.handlePhones)
	s.mux.HandleFunc("POST /api/replicas/stop", s.handleStopReplica)
	s.mux.HandleFunc("POST /api/replicas/start", s.handleStartReplica)
	s.wg.Go(s.followLedger)
	s.wg.Go(s.pushState)
	if cfg.Replicas != nil {
		s.wg.Go(s.watchReplicas)
	}
	s.wg.Go(s.watchPhones)
	return s, nil
}

// change runs h as a change to the room, or refuses it while the room
// is being reset.
func (s *Server) change(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.changes.TryRLock() {
			writeError(w, http.StatusConflict, "resetting", "the room is being reset; try again when it is done")
			return
		}
		defer s.changes.RUnlock()
		h(w, r)
	}
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
	s.wg.Wait()
	s.heartbeat.close()
	s.mu.Lock()
	for _, w := range s.wallets {
		w.close()
	}
	s.mu.Unlock()
	return s.store.close()
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
		writeError(w, http.StatusNotFound, "no_such_bank", "no bank %q in this sandbox", r.PathValue("bank"))
	}
	return b, ok
}

// State is the overview the page draws: the two tiers with their figures.
type State struct {
	Time   time.Time     `json:"time"`
	Totals ledger.Totals `json:"totals"`
	// Conserved says circulation (issued less redeemed) equals what the
	// banks' float, the wallets, offline escrow and the guarantee fund
	// hold, counted afresh from every account at the ledger (Recount),
	// and that the count agrees with the ledger's running totals.
	Conserved   bool              `json:"conserved"`
	Banks       []BankState       `json:"banks"`
	Offline     *OfflineState     `json:"offline,omitempty"`
	Throughput  []ThroughputPoint `json:"throughput"` // ledger operations a second, the last minute
	WalletCount int               `json:"wallet_count"`
	// Exposure is value paid offline and not yet settled: vouchers still
	// on the room's devices, and those the ledger holds pending.
	Exposure      int64 `json:"exposure"`
	OnDevices     int64 `json:"on_devices"`      // the part still on the room's devices
	OnDeviceCount int   `json:"on_device_count"` // how many vouchers that is
	// Replicas, for a replicated ledger, are its replicas and the pauses
	// measured after stopping them.
	Replicas *ReplicasView `json:"replicas,omitempty"`
	// Phones are the wallets signed in from the banks' wallet app.
	Phones *PhonesView `json:"phones,omitempty"`
}

// BankState is one intermediary's position.
type BankState struct {
	bankadmin.Status
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
	Policy         PolicyView       `json:"policy"`
}

// PolicyView is the offline policy in force.
type PolicyView struct {
	Mode               string `json:"mode"` // staged or intermittent
	PaymentCap         int64  `json:"payment_cap"`
	PurseCap           int64  `json:"purse_cap"`
	PaymentsBeforeSync int    `json:"payments_before_sync"`
	LossBearer         string `json:"loss_bearer"` // payer-bank, guarantee or payee
}

// ThroughputPoint is one second of ledger activity.
type ThroughputPoint struct {
	T         int64 `json:"t"` // Unix seconds
	Ops       int   `json:"ops"`
	Transfers int   `json:"transfers"`
}

func (s *Server) state(ctx context.Context) State {
	st := State{Time: time.Now(), Throughput: s.live.throughput()}
	st.Totals, st.Conserved = s.recount()
	for _, b := range s.cfg.Banks {
		status, err := b.Bank.Status(ctx)
		bs := BankState{Status: status}
		if err != nil {
			bs.Bank, bs.Error = string(b.Bank.ID()), err.Error()
		}
		st.Banks = append(st.Banks, bs)
	}
	var settles bool
	if s.cfg.Offline != nil {
		st.Offline, settles = s.cfg.Offline.Summary()
	}
	s.mu.Lock()
	st.WalletCount = len(s.wallets)
	ws := append([]*demoWallet(nil), s.wallets...)
	s.mu.Unlock()
	seen := map[offline.Hash]bool{}
	for _, w := range ws {
		pv := w.purseView()
		if pv == nil {
			continue
		}
		for h, amount := range pv.unsettled {
			if seen[h] {
				continue // the payer and the payee both hold it
			}
			seen[h] = true
			if settles && s.cfg.Offline.HandedIn(h) {
				continue // handed in by the other party: settled, or pending below
			}
			st.OnDevices += amount
			st.OnDeviceCount++
		}
	}
	st.Replicas = s.replicasView()
	st.Phones = s.phonesView()
	st.Exposure = st.OnDevices
	if st.Offline != nil {
		st.Exposure += st.Offline.PendingAmount
	}
	return st
}

// recount is the ledger's totals and whether every account, counted
// afresh, holds what they say. The count reads every account, so it is
// made again only when the journal has moved since the last one.
func (s *Server) recount() (ledger.Totals, bool) {
	s.recountMu.Lock()
	defer s.recountMu.Unlock()
	if t := s.cfg.Ledger.Totals(); t.Seq == s.recounted.totals.Seq && t.Seq != 0 {
		return s.recounted.totals, s.recounted.conserved
	}
	running, counted := s.cfg.Ledger.Recount()
	s.recounted.totals, s.recounted.conserved = running, counted == running && counted.Conserved()
	return s.recounted.totals, s.recounted.conserved
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
// event feed and a count for the throughput chart, each once and in
// journal order. A subscription that ends because its replica stopped is
// taken up again at a live one, and what was committed in between is
// read from the journal by sequence number; one dropped for falling
// behind under load skips ahead, as reading the journal would fall
// behind too.
func (s *Server) followLedger() {
	sl, ok := s.cfg.Ledger.(Subscriber)
	if !ok {
		s.readLedger()
		return
	}
	var last uint64 // the last operation shown; 0 while none is, or after skipping ahead
	wait := time.Duration(0)
	for s.ctx.Err() == nil {
		if wait > 0 {
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		sub := sl.Subscribe(1 << 16)
		stop := context.AfterFunc(s.ctx, sub.Close)
		shown := last
		if last != 0 && !s.catchUp(sl, &last, s.cfg.Ledger.Totals().Seq) {
			sub.Close() // the journal cannot be read there: subscribe again
		}
		for e := range sub.C {
			if e.Seq <= last && last != 0 {
				continue // caught up from the journal already
			}
			if last != 0 && e.Seq > last+1 && (!s.catchUp(sl, &last, e.Seq-1) || last != e.Seq-1) {
				break // what came before it cannot be read: subscribe again
			}
			s.showOp(e)
			last = e.Seq
		}
		sub.Close()
		stop()
		switch {
		case errors.Is(sub.Err(), ledger.ErrSlowSubscriber):
			last, wait = 0, 0 // fell behind under load: the feed skips ahead
		case last != shown:
			wait = 0
		default: // its ledger closed at once: no replica runs just now
			wait = min(2*wait+50*time.Millisecond, time.Second)
		}
	}
}

// readLedger shows every committed operation from the journal's head at
// the start on, reading on from the last it showed. A ledger that cannot
// be read is asked again after a pause that grows to a second; the log
// says when reading fails and when it works again.
func (s *Server) readLedger() {
	jw := s.cfg.Ledger.(JournalWaiter)
	var last uint64
	var failing error
	wait := time.Duration(0)
	pause := func(err error) {
		if failing == nil {
			s.cfg.Log.Warn("demo: cannot read the ledger's journal; asking again", "err", err)
		}
		failing, wait = err, min(2*wait+50*time.Millisecond, time.Second)
		select {
		case <-s.ctx.Done():
		case <-time.After(wait):
		}
	}
	for s.ctx.Err() == nil {
		head, err := jw.Head()
		if err == nil {
			last = head
			break
		}
		pause(err)
	}
	for s.ctx.Err() == nil {
		evs, err := jw.WaitEvents(last+1, ledger.MaxPage)
		if err != nil {
			pause(err)
			continue
		}
		if failing != nil {
			s.cfg.Log.Info("demo: reading the ledger's journal again", "from", last+1)
		}
		failing, wait = nil, 0
		for _, e := range evs {
			if e.Seq > last {
				s.showOp(e)
				last = e.Seq
			}
		}
	}
}

// catchUp shows the operations after *last up to sequence to, read from
// the ledger's journal. It stops early, true, where the replica it reads
// has not applied more yet (the subscription brings the rest), and says
// false when the journal cannot be read.
func (s *Server) catchUp(sl Subscriber, last *uint64, to uint64) bool {
	for *last < to {
		evs, err := sl.Events(*last+1, int(min(to-*last, ledger.MaxPage)))
		if err != nil {
			return false
		}
		if len(evs) == 0 {
			return true
		}
		for _, e := range evs {
			if e.Seq != *last+1 {
				return false
			}
			s.showOp(e)
			*last = e.Seq
		}
	}
	return true
}

// showOp puts one committed operation in the feed and the chart.
func (s *Server) showOp(e ledger.Event) {
	s.live.countOp(e)
	s.live.event(ledgerEvent(e))
	s.observePause(e)
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
	return Event{Time: e.Time, From: from, To: "ledger", Kind: "ledger",
		Args: Args{"op": e.Op, "amount": amount, "account": string(e.Account), "account_kind": e.Kind.String(), "seq": e.Seq, "transfers": len(e.Transfers)}}
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
		if req.Amount <= 0 {
			writeError(w, http.StatusBadRequest, "invalid_amount", "%s a positive whole number of yen of float, got %d", verb, req.Amount)
			return
		}
		st, err := move(r.Context(), req.Amount)
		if err != nil {
			s.live.event(Event{From: "central bank", To: string(b.Bank.ID()), Kind: verb + "_refused", Args: errArgs(err, Args{"amount": req.Amount}), Error: true})
			writeErr(w, err)
			return
		}
		s.live.event(Event{From: string(b.Bank.ID()), To: "central bank", Kind: verb, Args: Args{"amount": req.Amount, "float": st.Float}})
		writeJSON(w, http.StatusOK, st)
	}
}

func (s *Server) handleCustomers(w http.ResponseWriter, r *http.Request) {
	b, ok := s.pathBank(w, r)
	if !ok {
		return
	}
	ids := b.Bank.Customers()
	out := []bankadmin.CustomerInfo{}
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
	s.live.event(Event{From: string(b.Bank.ID()), To: c.Name, Kind: "tier", Args: Args{"name": c.Name, "tier": c.Tier.Name, "limit": c.Tier.HoldingLimit}})
	s.retiered(c)
	writeJSON(w, http.StatusOK, c)
}

// retiered gives the customer's demo wallets their new tier.
func (s *Server) retiered(c bankadmin.CustomerInfo) {
	s.mu.Lock()
	ws := append([]*demoWallet(nil), s.wallets...)
	s.mu.Unlock()
	for _, w := range ws {
		if w.isClone() {
			continue
		}
		mine := slices.ContainsFunc(c.Wallets, func(i bankadmin.WalletInfo) bool { return i.Address == w.getAddress() })
		if !mine {
			continue
		}
		w.mu.Lock()
		w.tier = c.Tier.Name
		s.persist(w)
		w.mu.Unlock()
		s.refreshClones(w)
	}
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := jsonbody.Decode(w, r, 1<<16, v); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "%v", err)
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

// writeErr answers with a protocol error's or a purse's code and message,
// or a plain failure.
func writeErr(w http.ResponseWriter, err error) {
	code, msg := errCode(err)
	status := http.StatusUnprocessableEntity
	if code == "failed" {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, map[string]*protocol.Error{"error": {Code: code, Message: msg}})
}

// errCode is an error's code, which the page words in the presenter's
// language, and its message: a protocol error's, a purse's, or "failed".
func errCode(err error) (code, msg string) {
	var pe *protocol.Error
	var oe *offline.Error
	switch {
	case errors.As(err, &pe):
		return pe.Code, pe.Message
	case errors.As(err, &oe):
		return oe.Code, withoutPackages(err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", "the bank did not answer in time"
	}
	return "failed", withoutPackages(err.Error())
}

// withoutPackages drops the names of the sandbox's packages that lead an
// error's text ("wallet: apply sync receipt: offline: …").
func withoutPackages(msg string) string {
	for again := true; again; {
		again = false
		for _, p := range []string{"wallet: ", "offline: ", "demo: ", "intermediary: ", "ledger: ", "settlement: ", "apply sync receipt: "} {
			if rest, ok := strings.CutPrefix(msg, p); ok {
				msg, again = rest, true
			}
		}
	}
	return msg
}

// errArgs adds an error's code and message to an event's arguments.
func errArgs(err error, a Args) Args {
	if a == nil {
		a = Args{}
	}
	a["code"], a["message"] = errCode(err)
	return a
}

func policyView(p offline.Policy) PolicyView {
	return PolicyView{Mode: p.Mode.String(), PaymentCap: p.PaymentCap, PurseCap: p.PurseCap, PaymentsBeforeSync: int(p.PaymentsBeforeSync), LossBearer: p.LossBearer.String()}
}

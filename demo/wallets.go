package demo

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// demoWallet is a wallet the demo holds for the presenter: a real wallet
// client with a session at its bank. A cloned device is one too: it holds
// a copy of another wallet's purse and borrows that wallet's session.
type demoWallet struct {
	id, name, bank string
	num            int         // the order the wallet was made in
	seed           []byte      // the wallet key's seed; nil for a clone
	owner          *demoWallet // a clone's original, whose session it uses

	sess    atomic.Pointer[wallet.Client] // nil while not connected
	sessErr atomic.Pointer[error]         // why the last connection failed
	stop    chan struct{}                 // closed when the wallet leaves the room
	gone    atomic.Bool                   // it has left the room: nothing more is kept of it
	online  atomic.Bool                   // false while the presenter has taken the device offline

	mu      sync.Mutex // protects tier, address, notes, asks, st and purse
	tier    string
	address string
	purse   *offline.Purse
	pv      atomic.Pointer[PurseView] // the purse as last snapshot
	notes   []Note
	asks    map[string]protocol.PaymentRequest // requests to pay this wallet has been sent, by ref
	st      *protocol.Settings                 // as last changed from the demo
}

func (w *demoWallet) isClone() bool { return w.owner != nil }

// client is the session the wallet speaks through, or an error saying why
// there is none.
func (w *demoWallet) client() (*wallet.Client, error) {
	o := w
	if w.owner != nil {
		o = w.owner
	}
	if c := o.sess.Load(); c != nil {
		return c, nil
	}
	msg := "the demo is connecting this wallet to its bank; try again in a moment"
	if e := o.sessErr.Load(); e != nil {
		msg = "the wallet cannot reach its bank (" + (*e).Error() + "); the demo keeps trying"
	}
	return nil, &protocol.Error{Code: "no_session", Message: msg}
}

func (w *demoWallet) getAddress() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.address
}

func (w *demoWallet) settings() (protocol.Settings, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.st == nil {
		return protocol.Settings{}, false
	}
	return *w.st, true
}

// record is the wallet as kept on disk; the caller holds w.mu.
func (w *demoWallet) record() walletRecord {
	r := walletRecord{ID: w.id, Num: w.num, Name: w.name, Bank: w.bank, Tier: w.tier, Seed: w.seed, Address: w.address,
		Offline: !w.online.Load(), Notes: w.notes, Settings: w.st}
	if w.owner != nil {
		r.CloneOf = w.owner.id
	}
	if w.purse != nil && w.purse.Chain() != nil {
		r.Purse = w.purse.Save()
	}
	return r
}

// Note is a notification the wallet's bank pushed, or one the demo made
// of a push. The page words it from its kind.
type Note struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"` // payment_in, payment_out, withdrawal, deposit, sweep, top_up, purse_fund, offline_settled, asked, request_paid, request_declined, request_expired, other
	Amount int64     `json:"amount,omitempty"`
	Party  string    `json:"party,omitempty"` // the other wallet, named as the room knows it
	Memo   string    `json:"memo,omitempty"`
}

// AskView is a request to pay waiting for the wallet to approve or decline.
type AskView struct {
	protocol.PaymentRequest
	MerchantName string `json:"merchant_name"` // the requesting wallet, named as the room knows it
}

// WalletView is a wallet as the page shows it.
type WalletView struct {
	Seq        uint64     `json:"seq"` // later views have higher numbers; the page keeps the latest
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Bank       string     `json:"bank"`
	Tier       string     `json:"tier"`
	Address    string     `json:"address"`
	Balance    int64      `json:"balance"`
	Deposit    int64      `json:"deposit"`
	Holding    int64      `json:"holding_limit"`
	Waterfall  bool       `json:"waterfall"`
	AutoCharge bool       `json:"auto_charge"`
	Notes      []Note     `json:"notes"`
	Asks       []AskView  `json:"requests"` // waiting for this wallet to approve or decline
	Online     bool       `json:"online"`
	Connected  bool       `json:"connected"` // the demo holds a session at the bank for it
	Clone      bool       `json:"clone"`     // a second device with a copied purse
	CloneOf    string     `json:"clone_of,omitempty"`
	Purse      *PurseView `json:"purse,omitempty"`
	Error      string     `json:"error,omitempty"` // why the balance could not be read
}

// close ends the wallet's session and its reconnection loop.
func (w *demoWallet) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	if w.owner == nil {
		if c := w.sess.Load(); c != nil {
			c.Close()
		}
	}
}

// viewSeq numbers wallet views.
var viewSeq atomic.Uint64

// maxNotes is how many notifications a wallet keeps.
const maxNotes = 12

// MaxWallets bounds the demo's wallets and cloned devices: each holds a
// session, and the page draws them all.
const MaxWallets = 100

func (s *Server) walletCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.wallets)
}

// nameTaken says whether a name is a wallet's already, or a party of the
// feed's.
func (s *Server) nameTaken(name string) bool {
	fold := strings.ToLower(name)
	for _, reserved := range []string{"ledger", "central bank", "presenter", "simulator", "wallets"} {
		if fold == reserved {
			return true
		}
	}
	if _, ok := s.bank(name); ok {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.wallets {
		if strings.EqualFold(w.name, name) {
			return true
		}
	}
	return false
}

// startingDeposit is what a new demo customer holds at the bank.
const startingDeposit = 200_000

// tiers are the KYC tiers a demo wallet may be opened at.
var tiers = []string{"basic", "standard", "merchant"}

func (s *Server) handleCreateWallet(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
		Bank string `json:"bank"`
		Tier string `json:"tier"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Tier == "" {
		req.Tier = "standard"
	}
	b, ok := s.bank(req.Bank)
	switch {
	case req.Name == "" || utf8.RuneCountInString(req.Name) > 60:
		writeError(w, http.StatusBadRequest, "bad_name", "a wallet needs a name of 1 to 60 characters")
		return
	case strings.ContainsFunc(req.Name, func(r rune) bool { return r < ' ' || r == 0x7f }):
		writeError(w, http.StatusBadRequest, "bad_name", "a wallet's name is one line of printable text")
		return
	case s.nameTaken(req.Name):
		writeError(w, http.StatusBadRequest, "name_taken", "%q is taken: the feed names wallets, banks, the ledger and the central bank, so each name is used once", req.Name)
		return
	case !ok:
		writeError(w, http.StatusBadRequest, "no_such_bank", "no bank %q in this sandbox", req.Bank)
		return
	case !slices.Contains(tiers, req.Tier):
		writeError(w, http.StatusBadRequest, "unknown_tier", "no tier %q: the tiers are %s", req.Tier, strings.Join(tiers, ", "))
		return
	}
	if n := s.walletCount(); n >= MaxWallets {
		writeError(w, http.StatusBadRequest, "too_many_wallets", "the demo holds at most %d wallets and devices; reset the room to start afresh", MaxWallets)
		return
	}
	dw, err := s.createWallet(r.Context(), b, req.Name, req.Tier)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.view(r.Context(), dw))
}

// createWallet onboards a customer at the bank, as a branch would after
// checking who they are, with a deposit account and a new wallet key, and
// opens the wallet's session.
func (s *Server) createWallet(ctx context.Context, b Bank, name, tier string) (*demoWallet, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	person := make([]byte, 8)
	rand.Read(person)
	bankID := string(b.Bank.ID())
	s.live.event(Event{From: name, To: bankID, Kind: "onboard", Args: Args{"tier": tier, "deposit": startingDeposit}})
	if _, err := b.Bank.Onboard(ctx, bankadmin.CustomerSpec{Name: name, PersonID: "demo-" + hex.EncodeToString(person),
		Tier: tier, Deposit: startingDeposit, PublicKeys: []ed25519.PublicKey{pub}}); err != nil {
		s.live.event(Event{From: bankID, To: name, Kind: "error", Args: errArgs(err, nil), Error: true})
		return nil, err
	}
	// The customer is onboarded: from here the wallet is the room's,
	// whether or not its first session opens.
	dw := &demoWallet{name: name, bank: bankID, tier: tier, seed: key.Seed(), stop: make(chan struct{}),
		asks: map[string]protocol.PaymentRequest{}}
	dw.online.Store(true)
	c, err := wallet.Dial(ctx, b.WalletURL, key, wallet.DialOptions{Bank: bankID, Events: 64, Dialer: s.dialer()})
	if err != nil {
		dw.sessErr.Store(&err)
		c = nil
	} else {
		dw.address = c.Address()
		dw.sess.Store(c)
	}
	if err := s.addWallet(dw); err != nil {
		if c != nil {
			c.Close()
		}
		return nil, err
	}
	if c != nil {
		s.live.event(Event{From: bankID, To: name, Kind: "welcome", Args: Args{"address": c.Address()}})
	}
	s.wg.Go(func() { s.keepConnected(dw, c) })
	return dw, nil
}

// addWallet numbers a new wallet or device, keeps it and puts it in the room.
func (s *Server) addWallet(dw *demoWallet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return errors.New("demo: the sandbox is stopping")
	}
	s.nextID++
	dw.num, dw.id = s.nextID, fmt.Sprintf("w%d", s.nextID)
	dw.mu.Lock()
	rec := dw.record()
	dw.mu.Unlock()
	if err := s.store.putWallet(rec, s.nextID); err != nil {
		return fmt.Errorf("demo: keep the wallet: %w", err)
	}
	s.wallets = append(s.wallets, dw)
	return nil
}

// persist writes the wallet's record; the caller holds dw.mu. A failure
// is logged: the room on screen stays right, and the next change retries.
func (s *Server) persist(dw *demoWallet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dw.gone.Load() {
		return
	}
	if err := s.store.putWallet(dw.record(), s.nextID); err != nil {
		s.cfg.Log.Error("demo: keep the wallet", "wallet", dw.name, "err", err)
	}
}

// keepConnected holds the wallet's session at its bank: it listens to what
// the bank pushes and, when the session ends, connects again until the
// wallet leaves the room. c is a session already open, or nil.
func (s *Server) keepConnected(dw *demoWallet, c *wallet.Client) {
	b, ok := s.bank(dw.bank)
	if !ok {
		err := error(fmt.Errorf("the sandbox has no bank %s now", dw.bank))
		dw.sessErr.Store(&err)
		s.refresh(dw)
		return
	}
	key := ed25519.NewKeyFromSeed(dw.seed)
	wait := 250 * time.Millisecond
	for {
		if c == nil {
			ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
			var err error
			c, err = wallet.Dial(ctx, b.WalletURL, key, wallet.DialOptions{Bank: dw.bank, Events: 64, Dialer: s.dialer()})
			cancel()
			if err != nil {
				dw.sessErr.Store(&err)
				s.refreshClones(dw)
				select {
				case <-s.ctx.Done():
					return
				case <-dw.stop:
					return
				case <-time.After(wait):
				}
				wait = min(2*wait, 10*time.Second)
				continue
			}
			select {
			case <-dw.stop: // it left the room while connecting
				c.Close()
				return
			default:
			}
			dw.sessErr.Store(nil)
			dw.sess.Store(c)
			dw.mu.Lock()
			dw.address = c.Address()
			dw.mu.Unlock()
			wait = 250 * time.Millisecond
		}
		s.loadAsks(dw, c)
		s.refreshClones(dw)
		s.listen(dw, c)
		dw.sess.CompareAndSwap(c, nil)
		c.Close()
		c = nil
		select {
		case <-s.ctx.Done():
			return
		case <-dw.stop:
			return
		default:
		}
		s.refreshClones(dw)
	}
}

// loadAsks fetches the requests to pay that wait for the wallet, so they
// show after a restart or a lost session as well as when pushed.
func (s *Server) loadAsks(dw *demoWallet, c *wallet.Client) {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	l, err := c.Requests(ctx)
	if err != nil {
		return
	}
	dw.mu.Lock()
	defer dw.mu.Unlock()
	for _, q := range l.Incoming {
		if q.Status == protocol.RequestPending {
			dw.asks[q.Ref] = q
		}
	}
}

// refreshPurses pushes every wallet that holds a purse.
func (s *Server) refreshPurses() {
	s.mu.Lock()
	ws := append([]*demoWallet(nil), s.wallets...)
	s.mu.Unlock()
	for _, w := range ws {
		if w.purseView() != nil {
			s.refresh(w)
		}
	}
}

// refreshClones pushes the wallet and every device that borrows its session.
func (s *Server) refreshClones(dw *demoWallet) {
	s.refresh(dw)
	s.mu.Lock()
	var clones []*demoWallet
	for _, w := range s.wallets {
		if w.owner == dw {
			clones = append(clones, w)
		}
	}
	s.mu.Unlock()
	for _, w := range clones {
		s.refresh(w)
	}
}

// listen turns what the bank pushes to a wallet into notes, events and a
// fresh view on the page, until the session ends.
func (s *Server) listen(dw *demoWallet, c *wallet.Client) {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-dw.stop:
			return
		case <-c.Done():
			return
		case env := <-c.Events():
			s.pushed(dw, env)
		}
	}
}

func (s *Server) pushed(dw *demoWallet, env protocol.Envelope) {
	note := Note{Time: time.Now()}
	switch env.Type {
	case protocol.TypeNotify:
		var n protocol.Notify
		if json.Unmarshal(env.Body, &n) != nil {
			return
		}
		note.Kind, note.Amount, note.Party = noteKind(n.Entry), n.Amount, s.nameOf(n.Counterparty)
		if note.Amount < 0 {
			note.Amount = -note.Amount
		}
	case protocol.TypePaymentRequest:
		var u protocol.RequestUpdate // the bank sends the request as {"request": …}
		if json.Unmarshal(env.Body, &u) != nil || u.Request.Ref == "" {
			return
		}
		q := u.Request
		dw.mu.Lock()
		dw.asks[q.Ref] = q
		dw.mu.Unlock()
		note.Kind, note.Amount, note.Party, note.Memo = "asked", q.Amount, s.nameOf(q.Merchant), q.Memo
	case protocol.TypeRequestUpdate:
		var u protocol.RequestUpdate
		if json.Unmarshal(env.Body, &u) != nil {
			return
		}
		note.Kind, note.Amount, note.Party, note.Memo = "request_"+u.Request.Status, u.Request.Amount, s.nameOf(u.Request.Payer), u.Request.Memo
	default:
		return
	}
	dw.mu.Lock()
	dw.notes = append([]Note{note}, dw.notes...)
	if len(dw.notes) > maxNotes {
		dw.notes = dw.notes[:maxNotes]
	}
	s.persist(dw)
	dw.mu.Unlock()
	s.live.event(Event{Time: note.Time, From: dw.bank, To: dw.name, Kind: "note",
		Args: Args{"note": note.Kind, "amount": note.Amount, "party": note.Party, "memo": note.Memo}})
	s.refresh(dw)
}

// noteKind names a ledger entry the bank notified.
func noteKind(e protocol.Entry) string {
	switch e.Reason {
	case protocol.ReasonPayment:
		if e.Amount > 0 {
			return "payment_in"
		}
		return "payment_out"
	case protocol.ReasonWithdrawal:
		return "withdrawal"
	case protocol.ReasonDeposit:
		return "deposit"
	case protocol.ReasonSweep:
		return "sweep"
	case protocol.ReasonTopUp:
		return "top_up"
	case protocol.ReasonPurseFund:
		return "purse_fund"
	case protocol.ReasonOffline:
		return "offline_settled"
	}
	return "other"
}

// nameOf names a wallet address after the demo wallet that holds it, or
// shortens it.
func (s *Server) nameOf(address string) string {
	s.mu.Lock()
	ws := append([]*demoWallet(nil), s.wallets...)
	s.mu.Unlock()
	for _, w := range ws {
		if !w.isClone() && w.getAddress() == address {
			return w.name
		}
	}
	return short(address)
}

func short(address string) string {
	if len(address) > 18 {
		return address[:18] + "…"
	}
	return address
}

func (s *Server) refresh(dw *demoWallet) {
	v := s.view(s.ctx, dw)
	// A reset marks the wallets that leave under s.mu before it sends
	// its reset message: a view of one sent after would put its card back
	// on every page.
	s.mu.Lock()
	defer s.mu.Unlock()
	if dw.gone.Load() {
		return
	}
	s.live.send(message{Type: "wallet", Wallet: &v})
}

func (s *Server) view(ctx context.Context, dw *demoWallet) WalletView {
	v := WalletView{Seq: viewSeq.Add(1), ID: dw.id, Name: dw.name, Bank: dw.bank,
		Online: dw.online.Load(), Clone: dw.isClone(), Purse: s.purseView(dw)}
	if dw.owner != nil {
		v.CloneOf = dw.owner.name
	}
	if c, err := dw.client(); err == nil {
		v.Connected = true
		ws := c.Welcome()
		v.Waterfall, v.AutoCharge, v.Holding = ws.Settings.Waterfall, ws.Settings.AutoCharge, ws.Tier.HoldingLimit
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if b, err := c.Balance(ctx); err == nil {
			v.Balance, v.Deposit, v.Holding = b.Balance, b.Deposit, b.HoldingLimit
		} else {
			v.Error = errorText(err)
		}
	} else {
		v.Error = errorText(err)
	}
	dw.mu.Lock()
	v.Address, v.Tier = dw.address, dw.tier
	v.Notes = append([]Note{}, dw.notes...)
	asks := make([]protocol.PaymentRequest, 0, len(dw.asks))
	now := time.Now()
	for ref, q := range dw.asks {
		if !q.Expires.IsZero() && q.Expires.Before(now) {
			delete(dw.asks, ref) // the bank tells only the asker that it expired
			continue
		}
		asks = append(asks, q)
	}
	dw.mu.Unlock()
	slices.SortFunc(asks, func(a, b protocol.PaymentRequest) int { return strings.Compare(a.Ref, b.Ref) })
	v.Asks = []AskView{}
	for _, q := range asks {
		v.Asks = append(v.Asks, AskView{PaymentRequest: q, MerchantName: s.nameOf(q.Merchant)})
	}
	settings := dw
	if dw.owner != nil {
		settings = dw.owner // a copy of the purse, not another wallet
	}
	if st, ok := settings.settings(); ok {
		v.Waterfall, v.AutoCharge = st.Waterfall, st.AutoCharge
	}
	return v
}

func (s *Server) walletViews(ctx context.Context) []WalletView {
	s.mu.Lock()
	ws := append([]*demoWallet(nil), s.wallets...)
	s.mu.Unlock()
	out := make([]WalletView, 0, len(ws))
	for _, w := range ws {
		out = append(out, s.view(ctx, w))
	}
	return out
}

func (s *Server) handleWallets(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"wallets": s.walletViews(r.Context())})
}

func (s *Server) wallet(id string) *demoWallet {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.wallets {
		if w.id == id {
			return w
		}
	}
	return nil
}

// walletRequest is the body of every wallet action; each uses some fields.
type walletRequest struct {
	To         string `json:"to"` // pay, request: the other demo wallet's id
	Amount     int64  `json:"amount"`
	Ref        string `json:"ref"` // approve, decline
	Waterfall  bool   `json:"waterfall"`
	AutoCharge bool   `json:"auto_charge"`
	Memo       string `json:"memo"`
}

// walletCall reads the wallet the path names and the request body of a
// wallet action, answering the error itself when either is wrong.
func (s *Server) walletCall(w http.ResponseWriter, r *http.Request) (*demoWallet, walletRequest, bool) {
	var req walletRequest
	dw := s.wallet(r.PathValue("id"))
	if dw == nil {
		writeError(w, http.StatusNotFound, "no_such_wallet", "no demo wallet %q: it may have left the room", r.PathValue("id"))
		return nil, req, false
	}
	ok := readJSON(w, r, &req)
	return dw, req, ok
}

// walletActions are the online actions a wallet takes through its bank.
var walletActions = []string{"pay", "request", "approve", "decline", "withdraw", "deposit", "settings"}

func (s *Server) handleWalletAction(w http.ResponseWriter, r *http.Request) {
	dw, req, ok := s.walletCall(w, r)
	if !ok {
		return
	}
	action := r.PathValue("action")
	if !slices.Contains(walletActions, action) {
		writeError(w, http.StatusNotFound, "unknown_action", "wallets have no action %q", action)
		return
	}
	var other *demoWallet
	switch action {
	case "pay", "request":
		if other = s.wallet(req.To); other == nil || other == dw || other.isClone() {
			writeError(w, http.StatusBadRequest, "unknown_payee", "%q is not another demo wallet", req.To)
			return
		}
		fallthrough
	case "withdraw", "deposit":
		if req.Amount <= 0 {
			writeError(w, http.StatusBadRequest, "invalid_amount", "an amount is a positive whole number of yen, got %d", req.Amount)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTime)
	defer cancel()
	err := s.act(ctx, dw, other, action, req)
	if err != nil {
		s.live.event(Event{From: dw.bank, To: dw.name, Kind: "error", Args: errArgs(err, Args{"action": action}), Error: true})
		writeErr(w, err)
		return
	}
	s.refresh(dw)
	if other != nil {
		s.refresh(other)
	}
	writeJSON(w, http.StatusOK, s.view(r.Context(), dw))
}

// act performs one wallet action through the wallet's session and
// records the request and its answer in the event feed.
func (s *Server) act(ctx context.Context, dw, other *demoWallet, action string, req walletRequest) error {
	switch {
	case dw.isClone():
		return &protocol.Error{Code: "clone_device", Message: "this device only holds a copied purse: pay offline with it, or bring it online to hand its vouchers in"}
	case !dw.online.Load():
		return errDeviceOffline
	}
	if _, err := dw.client(); err != nil {
		return err
	}
	switch action {
	case "pay":
		return s.pay(ctx, dw, other, req.Amount)
	case "request":
		return s.askToPay(ctx, dw, other, req.Amount, req.Memo)
	case "approve", "decline":
		return s.answerAsk(ctx, dw, action, req.Ref)
	case "withdraw", "deposit":
		return s.moveDeposit(ctx, dw, action, req.Amount)
	case "settings":
		return s.saveSettings(ctx, dw, req.Waterfall, req.AutoCharge)
	}
	return nil
}

// asked and answered put a wallet's request to its bank, and the bank's
// answer, in the event feed.
func (s *Server) asked(dw *demoWallet, kind string, a Args) {
	s.live.event(Event{From: dw.name, To: dw.bank, Kind: kind, Args: a})
}

func (s *Server) answered(dw *demoWallet, kind string, a Args) {
	s.live.event(Event{From: dw.bank, To: dw.name, Kind: kind, Args: a})
}

func (s *Server) pay(ctx context.Context, dw, other *demoWallet, amount int64) error {
	to := other.getAddress()
	s.asked(dw, "pay", Args{"amount": amount, "to": other.name})
	var p *protocol.Paid
	err := dw.call(ctx, func(ctx context.Context, c *wallet.Client, id string) (err error) {
		p, err = c.Pay(ctx, id, to, amount)
		return err
	})
	if err != nil {
		return err
	}
	s.answered(dw, "paid", Args{"amount": amount, "to": other.name, "seq": p.Seq})
	return nil
}

func (s *Server) askToPay(ctx context.Context, dw, other *demoWallet, amount int64, memo string) error {
	s.asked(dw, "request", Args{"amount": amount, "to": other.name, "memo": memo})
	err := dw.call(ctx, func(ctx context.Context, c *wallet.Client, id string) error {
		_, err := c.RequestPayment(ctx, id, other.getAddress(), amount, memo, 10*time.Minute)
		return err
	})
	if err != nil {
		return err
	}
	s.answered(dw, "requested", Args{"amount": amount, "to": other.name})
	return nil
}

// answerAsk approves or declines a request to pay that waits for the wallet.
func (s *Server) answerAsk(ctx context.Context, dw *demoWallet, action, ref string) error {
	dw.mu.Lock()
	q, ok := dw.asks[ref]
	dw.mu.Unlock()
	if !ok {
		return &protocol.Error{Code: protocol.CodeUnknownRequest, Message: fmt.Sprintf("no request %q waits for this wallet", ref)}
	}
	merchant := s.nameOf(q.Merchant)
	s.asked(dw, action, Args{"amount": q.Amount, "merchant": merchant, "memo": q.Memo})
	err := dw.call(ctx, func(ctx context.Context, c *wallet.Client, id string) (err error) {
		if action == "approve" {
			_, err = c.Approve(ctx, id, q)
		} else {
			_, err = c.Decline(ctx, id, q.Ref)
		}
		return err
	})
	var pe *protocol.Error
	if err == nil || errors.As(err, &pe) && (pe.Code == protocol.CodeRequestClosed || pe.Code == protocol.CodeUnknownRequest) {
		dw.mu.Lock() // answered, or no longer open: either way not waiting
		delete(dw.asks, ref)
		dw.mu.Unlock()
	}
	if err != nil {
		return err
	}
	s.answered(dw, action+"d", Args{"amount": q.Amount, "merchant": merchant})
	return nil
}

// moveDeposit charges the wallet from its deposit account (withdraw) or
// returns money to it (deposit).
func (s *Server) moveDeposit(ctx context.Context, dw *demoWallet, action string, amount int64) error {
	s.asked(dw, action, Args{"amount": amount})
	err := dw.call(ctx, func(ctx context.Context, c *wallet.Client, id string) (err error) {
		if action == "withdraw" {
			_, err = c.Withdraw(ctx, id, amount)
		} else {
			_, err = c.Deposit(ctx, id, amount)
		}
		return err
	})
	if err != nil {
		return err
	}
	done := map[string]string{"withdraw": "withdrawn", "deposit": "deposited"}[action]
	s.answered(dw, done, Args{"amount": amount})
	return nil
}

func (s *Server) saveSettings(ctx context.Context, dw *demoWallet, waterfall, autoCharge bool) error {
	s.asked(dw, "settings", Args{"waterfall": waterfall, "auto_charge": autoCharge})
	var st *protocol.Settings
	err := dw.call(ctx, func(ctx context.Context, c *wallet.Client, id string) (err error) {
		st, err = c.SetSettings(ctx, id, waterfall, autoCharge)
		return err
	})
	if err != nil {
		return err
	}
	dw.mu.Lock()
	dw.st = st
	s.persist(dw)
	dw.mu.Unlock()
	s.answered(dw, "settings_saved", Args{"waterfall": st.Waterfall, "auto_charge": st.AutoCharge})
	return nil
}

// callTime bounds a wallet action, retries included.
const callTime = 20 * time.Second

// unavailableTime bounds how long a wallet action asks again while its
// bank answers that it cannot reach the central ledger: long enough for
// a replicated ledger to elect a new leader, short enough that a ledger
// that is down is reported.
const unavailableTime = 15 * time.Second

// call makes one request to the wallet's bank with one request id, and
// asks again with the same id when the answer is lost (the session
// dropped, or the bank was slow) or the bank could not reach the central
// ledger (a replicated ledger electing a new leader), so the bank
// applies it once however often it is asked. A refusal is an answer, not
// a loss.
func (w *demoWallet) call(ctx context.Context, f func(ctx context.Context, c *wallet.Client, id string) error) error {
	var id string
	unavailableUntil := time.Now().Add(unavailableTime)
	for attempt := 1; ; attempt++ {
		c, err := w.client()
		if err != nil {
			return err
		}
		if id == "" {
			id = c.NewRequestID()
		}
		actx, cancel := context.WithTimeout(ctx, 6*time.Second)
		err = f(actx, c, id)
		cancel()
		if waitUnavailable(ctx, err, unavailableUntil) {
			// In doubt: the operation may yet apply. Ask again under its id.
			attempt--
			continue
		}
		var pe *protocol.Error
		var oe *offline.Error
		if err == nil || errors.As(err, &pe) || errors.As(err, &oe) || attempt == 3 || ctx.Err() != nil {
			return err
		}
		select { // a moment for a dropped session to come back
		case <-ctx.Done():
			return err
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// waitUnavailable reports whether err is the bank's unavailable (it could
// not reach the central ledger) while until has not passed, after waiting
// as long as the bank asks, so the caller asks again; false when err is
// the answer to take.
func waitUnavailable(ctx context.Context, err error, until time.Time) bool {
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeUnavailable || time.Now().After(until) || ctx.Err() != nil {
		return false
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(max(pe.RetryAfter(), 100*time.Millisecond)):
		return true
	}
}

func errorText(err error) string {
	code, msg := errCode(err)
	return code + ": " + msg
}

// handleOffline runs the offline lab's actions on a wallet's device:
// fund (provision the purse if need be, then move money into it), pay
// (device to device, to another demo wallet), clone, offline (take the
// device offline) and online (bring it back and hand its vouchers in).
func (s *Server) handleOffline(w http.ResponseWriter, r *http.Request) {
	dw, req, ok := s.walletCall(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTime)
	defer cancel()
	var out any
	var err error
	switch r.PathValue("action") {
	case "fund":
		if req.Amount < 0 {
			writeError(w, http.StatusBadRequest, "invalid_amount", "fund a purse with 0 yen or more, got %d", req.Amount)
			return
		}
		if dw.isClone() {
			err = &protocol.Error{Code: "clone_device", Message: "a cloned purse cannot be funded: the bank never certified this device"}
			break
		}
		var escrow int64
		escrow, err = s.fundPurse(ctx, dw, req.Amount)
		out = map[string]int64{"purse_balance": escrow, "funded": req.Amount}
	case "pay":
		other := s.wallet(req.To)
		if other == nil || other == dw {
			writeError(w, http.StatusBadRequest, "unknown_payee", "%q is not another demo wallet", req.To)
			return
		}
		if req.Amount <= 0 {
			writeError(w, http.StatusBadRequest, "invalid_amount", "an offline payment is a positive whole number of yen, got %d", req.Amount)
			return
		}
		out, err = s.payOffline(dw, other, req.Amount)
		defer s.refresh(other)
	case "clone":
		var clone *demoWallet
		if clone, err = s.clonePurse(dw); err == nil {
			out = s.view(ctx, clone)
			defer s.refresh(clone)
		}
	case "offline":
		dw.online.Store(false)
		dw.mu.Lock()
		s.persist(dw)
		dw.mu.Unlock()
		s.live.event(Event{From: dw.name, To: dw.name, Kind: "device_offline"})
		out = map[string]bool{"online": false}
	case "online":
		out, err = s.syncPurse(ctx, dw)
		defer s.refreshPurses() // a sync settles, revokes and pays other purses too
	default:
		writeError(w, http.StatusNotFound, "unknown_action", "the offline lab has no action %q", r.PathValue("action"))
		return
	}
	if err != nil {
		s.live.event(Event{From: dw.name, To: dw.name, Kind: "error", Args: errArgs(err, Args{"action": "offline_" + r.PathValue("action")}), Error: true})
		s.refresh(dw)
		writeErr(w, err)
		return
	}
	s.refresh(dw)
	writeJSON(w, http.StatusOK, out)
}

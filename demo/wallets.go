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
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// demoWallet is a wallet the demo holds for the presenter: a real wallet
// client with a session at its bank.
type demoWallet struct {
	id, name, bank string
	tier           string
	client         *wallet.Client

	shared  bool        // a clone's device: the session is its original's
	cloneOf string      // the wallet whose purse this device copied
	online  atomic.Bool // false while the presenter has taken the device offline

	mu    sync.Mutex // protects notes, asks, st and purse
	purse *offline.Purse
	pv    atomic.Pointer[PurseView] // the purse as last snapshot
	notes []Note
	asks  map[string]protocol.PaymentRequest // requests to pay this wallet has been sent, by ref
	st    *protocol.Settings                 // as last changed from the demo
}

func (w *demoWallet) settings() (protocol.Settings, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.st == nil {
		return protocol.Settings{}, false
	}
	return *w.st, true
}

func (w *demoWallet) setSettings(st protocol.Settings) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.st = &st
}

// Note is a notification the wallet's bank pushed.
type Note struct {
	Time   time.Time `json:"time"`
	Text   string    `json:"text"`
	Amount int64     `json:"amount,omitempty"`
}

// WalletView is a wallet as the page shows it.
type WalletView struct {
	Seq        uint64                    `json:"seq"` // later views have higher numbers; the page keeps the latest
	ID         string                    `json:"id"`
	Name       string                    `json:"name"`
	Bank       string                    `json:"bank"`
	Tier       string                    `json:"tier"`
	Address    string                    `json:"address"`
	Balance    int64                     `json:"balance"`
	Deposit    int64                     `json:"deposit"`
	Holding    int64                     `json:"holding_limit"`
	Waterfall  bool                      `json:"waterfall"`
	AutoCharge bool                      `json:"auto_charge"`
	Notes      []Note                    `json:"notes"`
	Asks       []protocol.PaymentRequest `json:"requests"` // waiting for this wallet to approve or decline
	Online     bool                      `json:"online"`
	Clone      bool                      `json:"clone"` // a second device with a copied purse
	Purse      *PurseView                `json:"purse,omitempty"`
	Error      string                    `json:"error,omitempty"`
}

func (w *demoWallet) close() {
	if !w.shared {
		w.client.Close()
	}
}

func (w *demoWallet) isOnline() bool { return w.online.Load() }

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
	b, ok := s.bank(req.Bank)
	switch {
	case req.Name == "" || utf8.RuneCountInString(req.Name) > 60:
		writeError(w, http.StatusBadRequest, "bad_name", "a wallet needs a name of 1 to 60 characters")
		return
	case s.nameTaken(req.Name):
		writeError(w, http.StatusBadRequest, "bad_name", "%q is taken: the feed names wallets, banks, the ledger and the central bank, so each name is used once", req.Name)
		return
	case !ok:
		writeError(w, http.StatusBadRequest, "unknown_bank", "no bank %q", req.Bank)
		return
	}
	if n := s.walletCount(); n >= MaxWallets {
		writeError(w, http.StatusBadRequest, "too_many_wallets", "the demo holds at most %d wallets; restart the sandbox for a fresh room", MaxWallets)
		return
	}
	if req.Tier == "" {
		req.Tier = "standard"
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
	s.live.event(Event{Time: time.Now(), From: name, To: bankID, Label: "open an account and a wallet (" + tier + ")"})
	if _, err := b.Bank.Onboard(ctx, intermediary.CustomerSpec{Name: name, PersonID: "demo-" + hex.EncodeToString(person),
		Tier: tier, Deposit: startingDeposit, PublicKeys: []ed25519.PublicKey{pub}}); err != nil {
		return nil, err
	}
	c, err := wallet.Dial(ctx, b.WalletURL, key, wallet.DialOptions{Bank: bankID, Events: 64})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		c.Close()
		return nil, errors.New("demo: the sandbox is stopping")
	}
	s.nextID++
	dw := &demoWallet{id: fmt.Sprintf("w%d", s.nextID), name: name, bank: bankID, tier: tier, client: c,
		asks: map[string]protocol.PaymentRequest{}}
	dw.online.Store(true)
	s.wallets = append(s.wallets, dw)
	s.mu.Unlock()
	s.live.event(Event{Time: time.Now(), From: bankID, To: name, Label: "welcome: wallet " + short(c.Address())})
	s.wg.Go(func() { s.listen(dw) })
	return dw, nil
}

// listen turns what the bank pushes to a wallet into notes, events and a
// fresh view on the page.
func (s *Server) listen(dw *demoWallet) {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-dw.client.Done():
			return
		case env := <-dw.client.Events():
			s.pushed(dw, env)
		}
	}
}

func (s *Server) pushed(dw *demoWallet, env protocol.Envelope) {
	now := time.Now()
	var note *Note
	switch env.Type {
	case protocol.TypeNotify:
		var n protocol.Notify
		if json.Unmarshal(env.Body, &n) != nil {
			return
		}
		note = &Note{Time: now, Amount: n.Amount, Text: notifyText(n.Entry, s.nameOf(n.Counterparty))}
	case protocol.TypePaymentRequest:
		var q protocol.PaymentRequest
		if json.Unmarshal(env.Body, &q) != nil {
			return
		}
		dw.mu.Lock()
		dw.asks[q.Ref] = q
		dw.mu.Unlock()
		note = &Note{Time: now, Text: fmt.Sprintf("%s asks you to pay %s yen", s.nameOf(q.Merchant), yen(q.Amount))}
	case protocol.TypeRequestUpdate:
		var u protocol.RequestUpdate
		if json.Unmarshal(env.Body, &u) != nil {
			return
		}
		note = &Note{Time: now, Text: fmt.Sprintf("your request for %s yen was %s", yen(u.Request.Amount), u.Request.Status)}
	default:
		return
	}
	dw.mu.Lock()
	dw.notes = append([]Note{*note}, dw.notes...)
	if len(dw.notes) > maxNotes {
		dw.notes = dw.notes[:maxNotes]
	}
	dw.mu.Unlock()
	s.live.event(Event{Time: now, From: dw.bank, To: dw.name, Label: env.Type + ": " + note.Text})
	s.refresh(dw)
}

func notifyText(e protocol.Entry, counterparty string) string {
	switch e.Reason {
	case protocol.ReasonPayment:
		if e.Amount > 0 {
			return fmt.Sprintf("received %s yen from %s", yen(e.Amount), counterparty)
		}
		return fmt.Sprintf("paid %s yen to %s", yen(-e.Amount), counterparty)
	case protocol.ReasonWithdrawal:
		return fmt.Sprintf("charged %s yen from the deposit account", yen(e.Amount))
	case protocol.ReasonDeposit:
		return fmt.Sprintf("returned %s yen to the deposit account", yen(-e.Amount))
	case protocol.ReasonSweep:
		return fmt.Sprintf("waterfall: %s yen over the holding limit went to the deposit account", yen(-e.Amount))
	case protocol.ReasonTopUp:
		return fmt.Sprintf("auto-charge: %s yen from the deposit account covered a payment", yen(e.Amount))
	}
	return fmt.Sprintf("%s %s yen", e.Reason, yen(e.Amount))
}

// nameOf names a wallet address after the demo wallet that holds it.
func (s *Server) nameOf(address string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.wallets {
		if w.client.Address() == address {
			return w.name
		}
	}
	if address == "" {
		return "the bank"
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
	s.live.send(message{Type: "wallet", Wallet: &v})
}

func (s *Server) view(ctx context.Context, dw *demoWallet) WalletView {
	ws := dw.client.Welcome()
	v := WalletView{Seq: viewSeq.Add(1), ID: dw.id, Name: dw.name, Bank: dw.bank, Tier: dw.tier, Address: dw.client.Address(),
		Waterfall: ws.Settings.Waterfall, AutoCharge: ws.Settings.AutoCharge, Holding: ws.Tier.HoldingLimit,
		Online: dw.isOnline(), Clone: dw.shared, Purse: dw.purseView()}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if b, err := dw.client.Balance(ctx); err == nil {
		v.Balance, v.Deposit, v.Holding = b.Balance, b.Deposit, b.HoldingLimit
	} else {
		v.Error = err.Error()
	}
	dw.mu.Lock()
	v.Notes = append([]Note{}, dw.notes...)
	v.Asks = []protocol.PaymentRequest{}
	for _, q := range dw.asks {
		v.Asks = append(v.Asks, q)
	}
	dw.mu.Unlock()
	if st, ok := dw.settings(); ok {
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
		writeError(w, http.StatusNotFound, "unknown_wallet", "no demo wallet %q", r.PathValue("id"))
		return nil, req, false
	}
	ok := readJSON(w, r, &req)
	return dw, req, ok
}

func (s *Server) handleWalletAction(w http.ResponseWriter, r *http.Request) {
	dw, req, ok := s.walletCall(w, r)
	if !ok {
		return
	}
	action := r.PathValue("action")
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	var other *demoWallet
	if action == "pay" || action == "request" {
		if other = s.wallet(req.To); other == nil || other == dw {
			writeError(w, http.StatusBadRequest, "unknown_wallet", "%q is not another demo wallet", req.To)
			return
		}
	}
	label, err := s.act(ctx, dw, other, action, req)
	if err != nil {
		s.live.event(Event{Time: time.Now(), From: dw.bank, To: dw.name, Label: "error: " + errorText(err), Error: true})
		writeErr(w, err)
		return
	}
	if label == "" {
		writeError(w, http.StatusNotFound, "unknown_action", "wallets have no action %q", action)
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
func (s *Server) act(ctx context.Context, dw, other *demoWallet, action string, req walletRequest) (string, error) {
	c := dw.client
	var ask, answer string
	var err error
	switch {
	case dw.shared:
		return "", &protocol.Error{Code: "clone_device", Message: "this device only holds a copied purse: pay offline with it, or bring it online to hand its vouchers in"}
	case !dw.isOnline():
		return "", errDeviceOffline
	}
	switch action {
	case "pay":
		ask = fmt.Sprintf("pay %s yen to %s (signed)", yen(req.Amount), other.name)
		s.live.event(Event{Time: time.Now(), From: dw.name, To: dw.bank, Label: ask})
		var p *protocol.Paid
		if p, err = c.Pay(ctx, "", other.client.Address(), req.Amount); err == nil {
			answer = fmt.Sprintf("paid: journal record %d", p.Seq)
		}
	case "request":
		ask = fmt.Sprintf("ask %s to pay %s yen", other.name, yen(req.Amount))
		s.live.event(Event{Time: time.Now(), From: dw.name, To: dw.bank, Label: ask})
		if _, err = c.RequestPayment(ctx, "", other.client.Address(), req.Amount, req.Memo, 10*time.Minute); err == nil {
			answer = "request sent to " + other.name
		}
	case "approve", "decline":
		dw.mu.Lock()
		q, ok := dw.asks[req.Ref]
		dw.mu.Unlock()
		if !ok {
			return "", &protocol.Error{Code: "unknown_request", Message: fmt.Sprintf("no request %q waits for this wallet", req.Ref)}
		}
		ask = fmt.Sprintf("%s %s's request for %s yen", action, s.nameOf(q.Merchant), yen(q.Amount))
		s.live.event(Event{Time: time.Now(), From: dw.name, To: dw.bank, Label: ask})
		if action == "approve" {
			_, err = c.Approve(ctx, "", q)
		} else {
			_, err = c.Decline(ctx, "", q.Ref)
		}
		if err == nil {
			dw.mu.Lock()
			delete(dw.asks, req.Ref)
			dw.mu.Unlock()
		}
		answer = action + "d"
	case "withdraw":
		ask = fmt.Sprintf("charge %s yen from the deposit account", yen(req.Amount))
		s.live.event(Event{Time: time.Now(), From: dw.name, To: dw.bank, Label: ask})
		_, err = c.Withdraw(ctx, "", req.Amount)
		answer = "withdrawn"
	case "deposit":
		ask = fmt.Sprintf("return %s yen to the deposit account", yen(req.Amount))
		s.live.event(Event{Time: time.Now(), From: dw.name, To: dw.bank, Label: ask})
		_, err = c.Deposit(ctx, "", req.Amount)
		answer = "deposited"
	case "settings":
		ask = fmt.Sprintf("settings: waterfall %v, auto-charge %v", req.Waterfall, req.AutoCharge)
		s.live.event(Event{Time: time.Now(), From: dw.name, To: dw.bank, Label: ask})
		var st *protocol.Settings
		if st, err = c.SetSettings(ctx, "", req.Waterfall, req.AutoCharge); err == nil {
			dw.setSettings(*st)
		}
		answer = "settings saved"
	default:
		return "", nil
	}
	if err != nil {
		return "", err
	}
	s.live.event(Event{Time: time.Now(), From: dw.bank, To: dw.name, Label: answer})
	return answer, nil
}

func errorText(err error) string {
	if pe, ok := err.(*protocol.Error); ok {
		return pe.Code + ": " + pe.Message
	}
	return err.Error()
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
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	var out any
	var err error
	switch r.PathValue("action") {
	case "fund":
		if req.Amount < 0 {
			writeError(w, http.StatusBadRequest, "invalid_amount", "fund a purse with 0 yen or more, got %d", req.Amount)
			return
		}
		if dw.shared {
			err = &protocol.Error{Code: "clone_device", Message: "a cloned purse cannot be funded: the bank never certified this device"}
			break
		}
		var msg string
		msg, err = s.fundPurse(ctx, dw, req.Amount)
		out = map[string]string{"result": msg}
	case "pay":
		other := s.wallet(req.To)
		if other == nil || other == dw {
			writeError(w, http.StatusBadRequest, "unknown_wallet", "%q is not another demo wallet", req.To)
			return
		}
		if req.Amount <= 0 {
			writeError(w, http.StatusBadRequest, "invalid_amount", "an offline payment is a positive number of yen, got %d", req.Amount)
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
		s.live.event(Event{Time: time.Now(), From: dw.name, To: dw.name, Label: "device offline: no network"})
		out = map[string]string{"result": "offline"}
	case "online":
		out, err = s.syncPurse(ctx, dw)
	default:
		writeError(w, http.StatusNotFound, "unknown_action", "the offline lab has no action %q", r.PathValue("action"))
		return
	}
	if err != nil {
		s.live.event(Event{Time: time.Now(), From: dw.name, To: dw.name, Label: "error: " + errorText(err), Error: true})
		writeErr(w, err)
		return
	}
	s.refresh(dw)
	writeJSON(w, http.StatusOK, out)
}

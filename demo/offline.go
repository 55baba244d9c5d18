package demo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/qrsvg"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// The offline lab: purses on the demo's wallets, payments device to
// device with no network, a cloned purse, and reconciliation when the
// devices come back online.

// errDeviceOffline refuses what needs the network while the presenter has
// taken the wallet's device offline.
var errDeviceOffline = &protocol.Error{Code: "device_offline", Message: "this device is offline: bring it online first, or pay offline with its purse"}

// PurseView is a wallet's purse as the page shows it.
type PurseView struct {
	Serial    string `json:"serial"`
	Balance   int64  `json:"balance"` // what the purse may still spend; void once revoked
	Pending   int64  `json:"pending"` // received offline, waiting for settlement (staged mode)
	Counter   uint64 `json:"counter"`
	SinceSync uint64 `json:"since_sync"`
	// Revoked says the ledger revoked this purse, or the purse has learnt
	// it has: every copy of the purse shows it.
	Revoked bool   `json:"revoked"`
	Escrow  *int64 `json:"escrow,omitempty"` // the purse's escrow at the ledger, when known
	CloneOf string `json:"clone_of,omitempty"`
	// Unsynced is value this device paid or was paid offline that it has
	// not handed in yet.
	Unsynced      int64 `json:"unsynced"`
	UnsyncedCount int   `json:"unsynced_count"`

	unsettled map[offline.Hash]int64 // vouchers not handed in, for the room's exposure
}

// Check is one of the payee's checks of a voucher, in the order the purse
// makes them.
type Check struct {
	Step   int    `json:"step"` // 1 to len(checkSteps), or 0 for a failure no check names
	Name   string `json:"name"`
	Result string `json:"result"` // passed, failed, not_reached
	Code   string `json:"code,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// OfflinePayment is what the page shows of a payment device to device.
type OfflinePayment struct {
	Seq        uint64    `json:"seq"` // its place in the room's log
	Time       time.Time `json:"time"`
	Payer      string    `json:"payer"`
	Payee      string    `json:"payee"`
	Amount     int64     `json:"amount"`
	Request    string    `json:"request"` // the payee's request, as text
	Voucher    string    `json:"voucher"` // the payer's voucher, as text
	VoucherQR  string    `json:"voucher_qr"`
	Hash       string    `json:"hash"`
	Counter    uint64    `json:"counter"`
	Checks     []Check   `json:"checks"`
	Accepted   bool      `json:"accepted"`
	PayerCode  string    `json:"payer_code,omitempty"` // why the payer's purse refused to sign
	PayerError string    `json:"payer_error,omitempty"`
}

// checkSteps are the payee's checks in order, and the error codes that
// stop each (offline.Purse.Accept makes them in this order).
var checkSteps = []struct {
	name  string
	codes []string
}{
	{"answers my open request: payee, nonce and amount", []string{"wrong_payee", "unknown_request", "amount_mismatch"}},
	{"payer's certificates lead to the central bank's root, valid now and at the voucher's time", []string{"unknown_bank", "certificate_expired", "malformed"}},
	{"payer is not on my revocation list", []string{"revoked"}},
	{"payer's signature, and the ledger's receipt for the payer's last sync", []string{"bad_signature"}},
	{"payer is certified with this sandbox's limits", []string{"limits_mismatch"}},
	{"within the payer's per-payment and purse caps", []string{"payment_cap"}},
	{"payer has not made too many payments since the sync its receipt proves", []string{"sync_required"}},
	{"counter and hash chain follow the payer's earlier vouchers to me", []string{"counter_order"}},
	{"my purse stays within its cap", []string{"purse_cap"}},
}

func explain(err error) []Check {
	out := make([]Check, 0, len(checkSteps)+1)
	failedAt := len(checkSteps) // none failed
	code := ""
	var oe *offline.Error
	if errors.As(err, &oe) {
		code = oe.Code
	}
	if err != nil {
		failedAt = -1 // a failure none of the steps names: every step not reached
		for i, st := range checkSteps {
			if slices.Contains(st.codes, code) {
				failedAt = i
			}
		}
		if code == "bad_signature" && strings.Contains(err.Error(), "certificate") {
			failedAt = 1 // a certificate's signature, not the voucher's
		}
	}
	if failedAt < 0 {
		out = append(out, Check{Name: "the purse could not check the voucher", Result: "failed", Code: code, Detail: err.Error()})
	}
	for i, st := range checkSteps {
		c := Check{Step: i + 1, Name: st.name, Result: "passed"}
		switch {
		case failedAt < 0 || i > failedAt:
			c.Result = "not_reached"
		case i == failedAt:
			c.Result, c.Code, c.Detail = "failed", code, err.Error()
		}
		out = append(out, c)
	}
	return out
}

// purseView is the purse as last snapshot, unmarked.
func (w *demoWallet) purseView() *PurseView { return w.pv.Load() }

// purseView is the purse as last snapshot, so drawing a wallet never
// waits for a sync in progress, marked revoked when the ledger has
// revoked its serial (a copy that never synced does not know it).
func (s *Server) purseView(w *demoWallet) *PurseView {
	pv := w.pv.Load()
	if pv == nil || s.cfg.Offline == nil {
		return pv
	}
	v := *pv
	sn, err := offline.ParseSerial(v.Serial)
	if err != nil {
		return &v
	}
	if escrow, revoked, ok := s.cfg.Offline.Purse(sn); ok {
		v.Escrow = &escrow
		v.Revoked = v.Revoked || revoked
	}
	if v.Revoked {
		v.Balance = 0
	}
	return &v
}

// snapshot records the purse for the page; the caller holds w.mu.
func (w *demoWallet) snapshot() {
	p := w.purse
	if p == nil || p.Chain() == nil {
		w.pv.Store(nil)
		return
	}
	v := &PurseView{Serial: p.Serial().String(), Balance: p.Balance(), Pending: p.Pending(), Counter: p.Counter(),
		SinceSync: p.SinceSync(), unsettled: map[offline.Hash]int64{}}
	if w.owner != nil {
		v.CloneOf = w.owner.name
	}
	if crl := p.Revocations(); crl != nil {
		v.Revoked = crl.Contains(p.Serial())
	}
	up := p.Upload()
	for _, vs := range [][]offline.Voucher{up.Sent, up.Received} {
		for _, vch := range vs {
			if vch.Payee == (offline.Serial{}) {
				continue // a defund: the owner's own money
			}
			v.unsettled[vch.Hash()] = vch.Amount
			v.Unsynced += vch.Amount
			v.UnsyncedCount++
		}
	}
	w.pv.Store(v)
}

// fundPurse provisions the wallet's purse if it has none, then moves
// amount yen from the wallet into the purse's escrow, and returns what
// the purse holds.
func (s *Server) fundPurse(ctx context.Context, dw *demoWallet, amount int64) (int64, error) {
	if !dw.online.Load() {
		return 0, errDeviceOffline
	}
	if _, err := dw.client(); err != nil {
		return 0, err
	}
	dw.mu.Lock() // one provisioning, and the purse unchanged while the bank answers
	defer dw.mu.Unlock()
	defer dw.snapshot()
	if dw.purse == nil {
		np, err := offline.NewPurse(nil)
		if err != nil {
			return 0, err
		}
		s.live.event(Event{From: dw.name, To: dw.bank, Kind: "purse_provision"})
		err = dw.call(ctx, func(ctx context.Context, c *wallet.Client, id string) error {
			_, err := c.ProvisionPurse(ctx, id, np)
			return err
		})
		if err != nil {
			return 0, err
		}
		s.live.event(Event{From: dw.bank, To: "ledger", Kind: "purse_register", Args: Args{"serial": np.Serial().String()}})
		dw.purse = np
		s.persist(dw)
		s.rememberPurse(np.Serial(), dw)
	}
	if amount == 0 {
		return dw.purse.Balance(), nil
	}
	s.live.event(Event{From: dw.name, To: dw.bank, Kind: "purse_fund", Args: Args{"amount": amount}})
	err := dw.call(ctx, func(ctx context.Context, c *wallet.Client, id string) error {
		_, err := c.FundPurse(ctx, id, dw.purse, amount) // a retry gets the same receipt, applied once
		return err
	})
	s.persist(dw)
	if err != nil {
		return 0, err
	}
	s.live.event(Event{From: dw.bank, To: dw.name, Kind: "purse_funded", Args: Args{"amount": amount, "balance": dw.purse.Balance()}})
	return dw.purse.Balance(), nil
}

// payOffline is a payment device to device: the payee's purse asks, the
// payer's purse signs a voucher, the payee's purse checks it. No network.
func (s *Server) payOffline(payer, payee *demoWallet, amount int64) (*OfflinePayment, error) {
	payer.mu.Lock()
	pp := payer.purse
	payer.mu.Unlock()
	payee.mu.Lock()
	qp := payee.purse
	payee.mu.Unlock()
	if pp == nil || qp == nil {
		return nil, &protocol.Error{Code: "no_purse", Message: "both wallets need a purse: fund one first (a payee may fund 0 yen)"}
	}
	if pp.Serial() == qp.Serial() {
		return nil, &protocol.Error{Code: "same_purse", Message: "a purse cannot pay a copy of itself"}
	}
	now := time.Now()
	out := &OfflinePayment{Time: now, Payer: payer.name, Payee: payee.name, Amount: amount}
	payee.mu.Lock()
	q, err := qp.Request(amount, now)
	payee.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out.Request = q.Text()
	s.live.event(Event{Time: now, From: payee.name, To: payer.name, Kind: "offline_request", Args: Args{"amount": amount}})
	payer.mu.Lock()
	v, err := pp.Pay(q, now)
	payer.snapshot()
	if err == nil {
		s.persist(payer) // the voucher is signed: the purse must not forget it
	}
	payer.mu.Unlock()
	if err != nil {
		payee.mu.Lock()
		qp.CancelRequest(q.Nonce)
		payee.mu.Unlock()
		out.PayerCode, out.PayerError = errCode(err)
		s.live.event(Event{Time: now, From: payer.name, To: payee.name, Kind: "offline_payer_refused", Args: errArgs(err, Args{"amount": amount}), Error: true})
		s.logPayment(out)
		return out, nil
	}
	out.Voucher, out.Hash, out.Counter = v.Text(), v.Hash().String(), v.Counter
	out.VoucherQR = qrsvg.SVG(out.Voucher, "the voucher as a QR code")
	s.live.event(Event{Time: now, From: payer.name, To: payee.name, Kind: "voucher", Args: Args{"amount": amount, "hash": out.Hash, "counter": v.Counter}})
	payee.mu.Lock()
	err = qp.Accept(v, now)
	if err != nil {
		qp.CancelRequest(q.Nonce)
	}
	payee.snapshot()
	s.persist(payee)
	payee.mu.Unlock()
	out.Checks, out.Accepted = explain(err), err == nil
	if err != nil {
		s.live.event(Event{Time: now, From: payee.name, To: payee.name, Kind: "voucher_refused", Args: errArgs(err, Args{"amount": amount}), Error: true})
	} else {
		s.live.event(Event{Time: now, From: payee.name, To: payee.name, Kind: "voucher_accepted", Args: Args{"amount": amount}})
	}
	s.logPayment(out)
	return out, nil
}

// clonePurse copies a wallet's purse state onto a second device of the
// same owner, as an attacker who broke the secure element would. The
// copy starts offline: that is how it is used.
func (s *Server) clonePurse(dw *demoWallet) (*demoWallet, error) {
	if dw.isClone() {
		return nil, &protocol.Error{Code: "clone_device", Message: "clone the original purse, not a copy"}
	}
	if s.walletCount() >= MaxWallets {
		return nil, &protocol.Error{Code: "too_many_wallets", Message: fmt.Sprintf("the demo holds at most %d wallets and devices; reset the room to start afresh", MaxWallets)}
	}
	dw.mu.Lock()
	p, tier := dw.purse, dw.tier
	var state []byte
	if p != nil {
		state = p.Save()
	}
	dw.mu.Unlock()
	if p == nil {
		return nil, &protocol.Error{Code: "no_purse", Message: "this wallet has no purse to clone: fund one first"}
	}
	cp, err := offline.LoadPurse(state)
	if err != nil {
		return nil, err
	}
	clone := &demoWallet{name: s.cloneName(dw.name), bank: dw.bank, tier: tier, owner: dw, purse: cp,
		stop: make(chan struct{}), asks: map[string]protocol.PaymentRequest{}}
	clone.mu.Lock()
	clone.snapshot()
	clone.mu.Unlock()
	if err := s.addWallet(clone); err != nil {
		return nil, err
	}
	s.live.event(Event{From: dw.name, To: clone.name, Kind: "clone", Error: true})
	return clone, nil
}

// cloneName names a new copy of a wallet's purse: "Aiko (clone)", then
// "Aiko (clone 2)".
func (s *Server) cloneName(name string) string {
	for i := 1; ; i++ {
		n := name + " (clone)"
		if i > 1 {
			n = fmt.Sprintf("%s (clone %d)", name, i)
		}
		if !s.nameTaken(n) {
			return n
		}
	}
}

// Reconciliation is what the central ledger made of one device's
// vouchers when it came back online, in the room's words: who was paid,
// how much the escrow covered, who bore a loss, whose purse was revoked.
type Reconciliation struct {
	Seq      uint64           `json:"seq"` // its place in the room's log
	Time     time.Time        `json:"time"`
	Device   string           `json:"device"` // the wallet or device that synced
	Handed   int              `json:"handed"` // vouchers handed in
	Vouchers []VoucherLine    `json:"vouchers"`
	Paid     []PartyAmount    `json:"paid"`        // settled to each payee
	Escrow   int64            `json:"from_escrow"` // of that, covered by payers' escrow
	Borne    []PartyAmount    `json:"borne"`       // advanced by a loss bearer (a bank or the guarantee fund)
	Unpaid   []PartyAmount    `json:"unpaid"`      // what payees go without
	Waiting  int              `json:"waiting"`     // vouchers pending until more devices sync or a deadline passes
	Rejected int              `json:"rejected"`
	Revoked  []string         `json:"revoked"` // wallets whose purse the ledger revoked
	Problems []ConflictView   `json:"conflicts"`
	Balance  int64            `json:"escrow"` // the device's escrow after the sync
	Error    *protocol.Error  `json:"error,omitempty"`
	byName   map[string]int64 // scratch
}

// VoucherLine is one voucher's outcome, with purses named by their wallets.
type VoucherLine struct {
	protocol.VoucherOutcome
	PayerName string `json:"payer_name"`
	PayeeName string `json:"payee_name"` // empty for a defund
}

// PartyAmount is an amount for a named party.
type PartyAmount struct {
	Name   string `json:"name"`
	Amount int64  `json:"amount"`
}

// ConflictView is a conflict with the device named after its wallet.
type ConflictView struct {
	protocol.OfflineConflict
	Wallet string `json:"wallet"` // the demo wallet whose purse it is
}

func addTo(list []PartyAmount, name string, amount int64) []PartyAmount {
	for i := range list {
		if list[i].Name == name {
			list[i].Amount += amount
			return list
		}
	}
	return append(list, PartyAmount{Name: name, Amount: amount})
}

// syncPurse brings the device online and hands in its vouchers: the bank
// passes them to the central ledger, which settles, rejects or finds a
// conflict, and the purse learns the latest revocations.
func (s *Server) syncPurse(ctx context.Context, dw *demoWallet) (*Reconciliation, error) {
	c, err := dw.client()
	if err != nil {
		return nil, err
	}
	dw.mu.Lock()
	defer dw.mu.Unlock()
	defer s.persist(dw)
	defer dw.snapshot()
	res := &Reconciliation{Time: time.Now(), Device: dw.name, Vouchers: []VoucherLine{}, Paid: []PartyAmount{}, Borne: []PartyAmount{},
		Unpaid: []PartyAmount{}, Revoked: []string{}, Problems: []ConflictView{}}
	if dw.purse == nil {
		dw.online.Store(true)
		s.live.event(Event{From: dw.name, To: dw.name, Kind: "device_online"})
		return res, nil
	}
	up := dw.purse.Upload()
	res.Handed = len(up.Sent) + len(up.Received)
	s.live.event(Event{From: dw.name, To: dw.bank, Kind: "purse_sync", Args: Args{"vouchers": res.Handed}})
	answers, err := syncRetrying(ctx, c, dw.purse)
	for _, a := range answers {
		s.addAnswer(res, dw.bank, a)
	}
	if len(answers) == 0 {
		return nil, err // the bank never answered: nothing was handed in, and the phone stays as it was
	}
	dw.online.Store(true)
	if err != nil {
		code, msg := errCode(err)
		res.Error = &protocol.Error{Code: code, Message: msg}
	}
	s.logReconciliation(res)
	var oe *offline.Error
	if err != nil && len(answers) > 0 && errors.As(err, &oe) && oe.Code == offline.ErrWrongDevice.Code {
		// A copy of this purse synced first: the ledger reconciled this
		// upload, found the copy, and its outcome is the answer.
		return res, nil
	}
	if err != nil {
		return res, err
	}
	return res, nil
}

// syncRetrying hands a purse's vouchers in, asking again while the bank
// answers unavailable before any answer came (a replicated ledger electing
// a leader, or its new leader opening settlement): nothing was handed in
// then, and handing the same vouchers in again settles none twice.
func syncRetrying(ctx context.Context, c *wallet.Client, p *offline.Purse) ([]*protocol.PurseSynced, error) {
	until := time.Now().Add(unavailableTime)
	for {
		answers, err := c.SyncPurse(ctx, p)
		if len(answers) > 0 || !waitUnavailable(ctx, err, until) {
			return answers, err
		}
	}
}

// addAnswer adds one answer of the ledger's, relayed by bank, to the
// reconciliation, naming purses after their wallets, and puts it in the
// event feed.
func (s *Server) addAnswer(res *Reconciliation, bank string, a *protocol.PurseSynced) {
	s.live.event(Event{From: bank, To: "ledger", Kind: "reconcile", Args: Args{"vouchers": len(a.Vouchers)}})
	s.live.event(Event{From: "ledger", To: bank, Kind: "reconciled", Error: len(a.Conflicts) > 0,
		Args: Args{"settled": a.Settled, "pending": a.Pending, "rejected": a.Rejected, "duplicate": a.Duplicate, "conflicts": len(a.Conflicts), "amount": a.SettledAmount}})
	res.Balance = a.Escrow
	for _, v := range a.Vouchers {
		line := VoucherLine{VoucherOutcome: v, PayerName: s.purseOwner(v.Payer)}
		if v.Payee != "" {
			line.PayeeName = s.purseOwner(v.Payee)
		}
		res.Vouchers = append(res.Vouchers, line)
		switch v.Outcome {
		case "settled":
			if line.PayeeName != "" {
				res.Paid = addTo(res.Paid, line.PayeeName, v.Amount-v.PayeeLoss)
			}
			res.Escrow += v.FromEscrow
		case "pending":
			res.Waiting++
		case "rejected":
			res.Rejected++
		}
		if v.FromBearer > 0 {
			res.Borne = addTo(res.Borne, v.Bearer, v.FromBearer)
		}
		if v.PayeeLoss > 0 && line.PayeeName != "" {
			res.Unpaid = addTo(res.Unpaid, line.PayeeName, v.PayeeLoss)
		}
	}
	for _, cf := range a.Conflicts {
		cv := ConflictView{OfflineConflict: cf, Wallet: s.purseOwner(cf.Device)}
		res.Problems = append(res.Problems, cv)
		if cf.Revokes && cf.Kind != string(offline.BankCertificate) && !slices.Contains(res.Revoked, cv.Wallet) {
			res.Revoked = append(res.Revoked, cv.Wallet)
		}
		s.live.event(Event{From: "ledger", To: "central bank", Kind: "conflict", Error: true,
			Args: Args{"conflict": cf.Kind, "wallet": cv.Wallet, "serial": cf.Device, "revokes": cf.Revokes, "bank": cf.Bank}})
	}
}

// logPayment adds an offline payment to the room's log and every page.
func (s *Server) logPayment(p *OfflinePayment) {
	e := s.appendLog(logEntry{Payment: p})
	s.live.send(message{Type: "payment", Payment: e.Payment})
}

// logReconciliation adds a reconciliation to the room's log and every page.
func (s *Server) logReconciliation(r *Reconciliation) {
	e := s.appendLog(logEntry{Reconciliation: r})
	s.live.send(message{Type: "reconciliation", Reconciliation: e.Reconciliation})
}

func (s *Server) appendLog(e logEntry) logEntry {
	s.mu.Lock()
	s.logSeq++
	e.Seq = s.logSeq
	if e.Payment != nil {
		e.Payment.Seq = e.Seq
	}
	if e.Reconciliation != nil {
		e.Reconciliation.Seq = e.Seq
	}
	s.log = append(s.log, e)
	if len(s.log) > maxLog {
		s.log = append([]logEntry(nil), s.log[len(s.log)-maxLog:]...)
	}
	s.mu.Unlock()
	if err := s.store.appendLog(e); err != nil {
		s.cfg.Log.Error("demo: keep the room's log", "err", err)
	}
	return e
}

// roomLog is the room's offline payments and reconciliations, oldest first.
func (s *Server) roomLog() []logEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]logEntry(nil), s.log...)
}

func (s *Server) rememberPurse(sn offline.Serial, dw *demoWallet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purses[sn.String()] = dw.name
}

// purseOwner names the demo wallet a purse serial belongs to.
func (s *Server) purseOwner(serial string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.purses[serial]; ok {
		return n
	}
	return "device " + serial[:min(8, len(serial))]
}

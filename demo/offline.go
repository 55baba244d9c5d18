package demo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
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
	Balance   int64  `json:"balance"`
	Pending   int64  `json:"pending"` // received offline, waiting for settlement (staged mode)
	Counter   uint64 `json:"counter"`
	SinceSync uint64 `json:"since_sync"`
	Revoked   bool   `json:"revoked"` // on the revocation list this purse holds
	CloneOf   string `json:"clone_of,omitempty"`
}

// Check is one of the payee's checks of a voucher, in the order the purse
// makes them.
type Check struct {
	Name   string `json:"name"`
	Result string `json:"result"` // passed, failed, not_reached
	Detail string `json:"detail,omitempty"`
}

// OfflinePayment is what the page shows of a payment device to device.
type OfflinePayment struct {
	Payer      string  `json:"payer"`
	Payee      string  `json:"payee"`
	Amount     int64   `json:"amount"`
	Request    string  `json:"request"` // the payee's request, as text
	Voucher    string  `json:"voucher"` // the payer's voucher, as text
	VoucherQR  string  `json:"voucher_qr"`
	Hash       string  `json:"hash"`
	Checks     []Check `json:"checks"`
	Accepted   bool    `json:"accepted"`
	PayerError string  `json:"payer_error,omitempty"`
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
		out = append(out, Check{Name: "the purse could not check the voucher", Result: "failed", Detail: err.Error()})
	}
	for i, st := range checkSteps {
		c := Check{Name: st.name, Result: "passed"}
		switch {
		case failedAt < 0 || i > failedAt:
			c.Result = "not_reached"
		case i == failedAt:
			c.Result, c.Detail = "failed", err.Error()
		}
		out = append(out, c)
	}
	return out
}

// qrSVG draws text as a QR code in SVG.
func qrSVG(text string) string {
	code, err := qr.Encode(text, qr.L)
	if err != nil {
		return ""
	}
	var b strings.Builder
	n := code.Size
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="-4 -4 %d %d" shape-rendering="crispEdges" role="img" aria-label="the voucher as a QR code"><rect x="-4" y="-4" width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n+8, n+8, n+8, n+8)
	for y := range n {
		for x := range n {
			if code.Black(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}

// purseView is the purse as last snapshot, so drawing a wallet never
// waits for a sync in progress.
func (w *demoWallet) purseView() *PurseView { return w.pv.Load() }

// snapshot records the purse for the page; the caller holds w.mu.
func (w *demoWallet) snapshot() {
	p := w.purse
	if p == nil || p.Chain() == nil {
		w.pv.Store(nil)
		return
	}
	v := &PurseView{Serial: p.Serial().String(), Balance: p.Balance(), Pending: p.Pending(), Counter: p.Counter(),
		SinceSync: p.SinceSync(), CloneOf: w.cloneOf}
	if crl := p.Revocations(); crl != nil {
		v.Revoked = crl.Contains(p.Serial())
	}
	w.pv.Store(v)
}

// fundPurse provisions the wallet's purse if it has none, then moves
// amount yen from the wallet into the purse's escrow.
func (s *Server) fundPurse(ctx context.Context, dw *demoWallet, amount int64) (string, error) {
	if !dw.isOnline() {
		return "", errDeviceOffline
	}
	dw.mu.Lock() // one provisioning, and the purse unchanged while the bank answers
	defer dw.mu.Unlock()
	defer dw.snapshot()
	if dw.purse == nil {
		np, err := offline.NewPurse(nil)
		if err != nil {
			return "", err
		}
		s.live.event(Event{Time: time.Now(), From: dw.name, To: dw.bank, Label: "purse_provision: certify my purse's key"})
		if _, err := dw.client.ProvisionPurse(ctx, "", np); err != nil {
			return "", err
		}
		s.live.event(Event{Time: time.Now(), From: dw.bank, To: "ledger", Label: "register purse " + np.Serial().String()[:8] + " and its escrow account"})
		dw.purse = np
		s.rememberPurse(np.Serial(), dw)
	}
	if amount == 0 {
		return "purse ready", nil
	}
	s.live.event(Event{Time: time.Now(), From: dw.name, To: dw.bank, Label: fmt.Sprintf("purse_fund: move %s yen into my purse", yen(amount))})
	if _, err := dw.client.FundPurse(ctx, "", dw.purse, amount); err != nil {
		return "", err
	}
	return fmt.Sprintf("purse funded: escrow holds %s yen", yen(dw.purse.Balance())), nil
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
	now := time.Now()
	out := &OfflinePayment{Payer: payer.name, Payee: payee.name, Amount: amount}
	payee.mu.Lock()
	q, err := qp.Request(amount, now)
	payee.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out.Request = q.Text()
	s.live.event(Event{Time: now, From: payee.name, To: payer.name, Label: fmt.Sprintf("payment request for %s yen (QR, no network)", yen(amount))})
	payer.mu.Lock()
	v, err := pp.Pay(q, now)
	payer.snapshot()
	payer.mu.Unlock()
	if err != nil {
		payee.mu.Lock()
		qp.CancelRequest(q.Nonce)
		payee.mu.Unlock()
		out.PayerError = err.Error()
		s.live.event(Event{Time: now, From: payer.name, To: payee.name, Label: "the purse refused to pay: " + err.Error(), Error: true})
		return out, nil
	}
	out.Voucher, out.Hash = v.Text(), v.Hash().String()
	out.VoucherQR = qrSVG(out.Voucher)
	s.live.event(Event{Time: now, From: payer.name, To: payee.name, Label: fmt.Sprintf("voucher %s: %s yen, counter %d, signed by the purse", out.Hash[:8], yen(amount), v.Counter)})
	payee.mu.Lock()
	err = qp.Accept(v, now)
	if err != nil {
		qp.CancelRequest(q.Nonce)
	}
	payee.snapshot()
	payee.mu.Unlock()
	out.Checks, out.Accepted = explain(err), err == nil
	label := "accepted the voucher"
	if err != nil {
		label = "refused the voucher: " + err.Error()
	}
	s.live.event(Event{Time: now, From: payee.name, To: payee.name, Label: label, Error: err != nil})
	return out, nil
}

// clonePurse copies a wallet's purse state onto a second device of the
// same owner, as an attacker who broke the secure element would.
func (s *Server) clonePurse(dw *demoWallet) (*demoWallet, error) {
	dw.mu.Lock()
	p := dw.purse
	var state []byte
	if p != nil {
		state = p.Save()
	}
	dw.mu.Unlock()
	if p == nil {
		return nil, &protocol.Error{Code: "no_purse", Message: "this wallet has no purse to clone"}
	}
	cp, err := offline.LoadPurse(state)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.nextID++
	clone := &demoWallet{id: fmt.Sprintf("w%d", s.nextID), name: dw.name + " (clone)", bank: dw.bank, tier: dw.tier,
		client: dw.client, shared: true, purse: cp, cloneOf: dw.name, asks: map[string]protocol.PaymentRequest{}}
	clone.online.Store(true)
	clone.snapshot()
	s.wallets = append(s.wallets, clone)
	s.mu.Unlock()
	s.live.event(Event{Time: time.Now(), From: dw.name, To: clone.name, Label: "copied the purse's secret state to a second device", Error: true})
	return clone, nil
}

// SyncResult is what reconciliation made of one device's upload.
type SyncResult struct {
	Vouchers  []protocol.VoucherOutcome `json:"vouchers"`
	Conflicts []ConflictView            `json:"conflicts"`
	Escrow    int64                     `json:"escrow"`
}

// ConflictView is a conflict with the device named after its wallet.
type ConflictView struct {
	protocol.OfflineConflict
	Wallet string `json:"wallet"` // the demo wallet whose purse it is
}

// syncPurse brings the device online and hands in its vouchers: the bank
// passes them to the central ledger, which settles, rejects or finds a
// conflict, and the purse learns the latest revocations.
func (s *Server) syncPurse(ctx context.Context, dw *demoWallet) (*SyncResult, error) {
	dw.online.Store(true)
	dw.mu.Lock()
	defer dw.mu.Unlock()
	defer dw.snapshot()
	if dw.purse == nil {
		return &SyncResult{Vouchers: []protocol.VoucherOutcome{}, Conflicts: []ConflictView{}}, nil
	}
	s.live.event(Event{Time: time.Now(), From: dw.name, To: dw.bank, Label: fmt.Sprintf("purse_sync: hand in %d vouchers", len(dw.purse.Upload().Sent)+len(dw.purse.Upload().Received))})
	answers, err := dw.client.SyncPurse(ctx, dw.purse)
	res := &SyncResult{Vouchers: []protocol.VoucherOutcome{}, Conflicts: []ConflictView{}}
	for _, a := range answers {
		res.Vouchers = append(res.Vouchers, a.Vouchers...)
		res.Escrow = a.Escrow
		for _, c := range a.Conflicts {
			res.Conflicts = append(res.Conflicts, ConflictView{OfflineConflict: c, Wallet: s.purseOwner(c.Device)})
		}
		s.live.event(Event{Time: time.Now(), From: dw.bank, To: "ledger", Label: fmt.Sprintf("reconcile %d vouchers", len(a.Vouchers))})
		s.live.event(Event{Time: time.Now(), From: "ledger", To: dw.bank, Label: fmt.Sprintf("%d settled, %d pending, %d rejected, %d duplicate, %d conflicts",
			a.Settled, a.Pending, a.Rejected, a.Duplicate, len(a.Conflicts)), Error: len(a.Conflicts) > 0})
		for _, c := range a.Conflicts {
			s.live.event(Event{Time: time.Now(), From: "ledger", To: "central bank", Label: fmt.Sprintf("%s by %s's purse %s: revoked", c.Kind, s.purseOwner(c.Device), c.Device[:8]), Detail: c.Detail, Error: true})
		}
	}
	if err != nil {
		return res, err
	}
	return res, nil
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

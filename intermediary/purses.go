package intermediary

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// Offline is the central ledger's settlement of offline vouchers as one
// intermediary uses it: *settlement.Bank in one process, the network
// client when the tiers run apart.
type Offline interface {
	Certify(ctx context.Context, key ed25519.PublicKey) (settlement.Terms, error)
	RegisterDevice(ctx context.Context, cert offline.DeviceCert, wallet ledger.AccountID) (ledger.AccountID, error)
	Reconcile(ctx context.Context, up settlement.Upload) (settlement.Report, error)
	Revocations(ctx context.Context) (offline.RevocationList, error)
	RetireDevice(ctx context.Context, serial offline.Serial) (settlement.DeviceInfo, error)
}

var _ Offline = (*settlement.Bank)(nil)

// purseRec is a purse the bank provisioned for one of its wallets.
type purseRec struct {
	KeyID   string    `json:"key_id"` // the owning wallet
	Cert    []byte    `json:"cert"`   // the device certificate
	Escrow  string    `json:"escrow"`
	Created time.Time `json:"created"`
}

// purses provisions, funds and syncs offline purses.
type purses struct {
	terms settlement.Terms
}

// openPurses has the root certify the bank's offline key.
func (b *Bank) openPurses(ctx context.Context) error {
	if b.cfg.Offline == nil {
		return nil
	}
	terms, err := b.certify(ctx)
	if errors.Is(err, settlement.ErrOfflineDisabled) {
		if n, cerr := b.st.countPurses(); cerr == nil && n > 0 {
			b.log.Warn("the central ledger settles no offline vouchers, but this bank's purses hold money in escrow: their syncs and defunds wait for a ledger that settles", "purses", n)
		} else {
			b.log.Info("the central ledger settles no offline vouchers; this bank offers no offline purses")
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("intermediary: certify the offline key at the central ledger: %w", err)
	}
	b.purses = &purses{terms: terms}
	return b.st.openPurses()
}

// certifyWait bounds how long a starting bank asks a replicated ledger
// again for its offline certificate while no replica settles: an election
// and a new leader opening settlement take about a second.
const certifyWait = 30 * time.Second

// certify has the root certify the bank's offline key, asking again while
// the answer is not_leader (a replicated ledger between leaders).
func (b *Bank) certify(ctx context.Context) (settlement.Terms, error) {
	until := time.Now().Add(certifyWait)
	for {
		terms, err := b.cfg.Offline.Certify(ctx, b.cfg.OfflineKey.Public().(ed25519.PublicKey))
		if !errors.Is(err, ledger.ErrNotLeader) || time.Now().After(until) {
			return terms, err
		}
		b.log.Info("no replica of the central ledger settles offline vouchers yet; asking again", "err", err)
		select {
		case <-ctx.Done():
			return terms, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (b *Bank) offlineOn() error {
	if b.purses == nil {
		return fail(protocol.CodeOfflineDisabled, "%s offers no offline purses", b.id)
	}
	return nil
}

// walletPurse returns the wallet's purse when it has the given serial.
func (b *Bank) walletPurse(w *Wallet, serial string) (offline.Serial, purseRec, error) {
	have, rec, found, err := b.st.purseOf(w.keyID)
	if err != nil {
		return offline.Serial{}, rec, err
	}
	if !found || have != serial {
		return offline.Serial{}, rec, fail(protocol.CodeUnknownPurse, "purse %q does not belong to this wallet", serial)
	}
	sn, err := offline.ParseSerial(serial)
	return sn, rec, err
}

func (c walletCall) provisionPurse(ctx context.Context, id string, body json.RawMessage) (string, any, error) {
	var m protocol.PurseProvision
	unlock, err := c.instruction(protocol.TypePurseProvision, id, body, &m)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	r, err := c.b.provisionPurse(ctx, c.w, m.PublicKey)
	return protocol.TypePurseCerts, r, err
}

// provisionPurse certifies a purse key for the wallet and registers the
// device and its escrow at the central ledger. Asking again with the same
// key returns the same certificate.
func (b *Bank) provisionPurse(ctx context.Context, w *Wallet, key []byte) (*protocol.PurseCertificates, error) {
	if err := b.offlineOn(); err != nil {
		return nil, err
	}
	if err := checkPublicKey(key); err != nil {
		return nil, err
	}
	serial, rec, found, err := b.st.purseOf(w.keyID)
	if err != nil {
		return nil, err
	}
	if found {
		cert, err := offline.ParseDeviceCert(rec.Cert)
		if err != nil {
			return nil, err
		}
		if !cert.Key.Equal(ed25519.PublicKey(key)) {
			return nil, fail(protocol.CodePurseExists, "this wallet already has purse %s with another key", serial)
		}
		return b.purseCertificates(ctx, cert, rec.Escrow)
	}
	cert, err := b.issueDeviceCert(key)
	if err != nil {
		return nil, err
	}
	escrow, err := b.cfg.Offline.RegisterDevice(ctx, cert, ledger.AccountID(w.addr))
	if err != nil {
		return nil, fromOffline(err)
	}
	rec = purseRec{KeyID: w.keyID, Cert: cert.Marshal(), Escrow: string(escrow), Created: b.now()}
	if err := b.st.addPurse(cert.Serial.String(), rec); err != nil {
		return nil, err
	}
	b.log.Info("purse provisioned", "wallet", w.addr, "serial", cert.Serial.String())
	return b.purseCertificates(ctx, cert, rec.Escrow)
}

func (b *Bank) issueDeviceCert(key []byte) (offline.DeviceCert, error) {
	var sn offline.Serial
	if _, err := rand.Read(sn[:]); err != nil {
		return offline.DeviceCert{}, err
	}
	pol := b.purses.terms.Policy
	now := b.now()
	return offline.IssueDeviceCert(b.cfg.OfflineKey, offline.DeviceCert{Serial: sn, Key: ed25519.PublicKey(key),
		BankID: string(b.id), Limits: pol.Limits, Issued: now, Expires: now.Add(pol.CertLifetime)})
}

func (b *Bank) purseCertificates(ctx context.Context, cert offline.DeviceCert, escrow string) (*protocol.PurseCertificates, error) {
	crl, err := b.cfg.Offline.Revocations(ctx)
	if err != nil {
		return nil, fromOffline(err)
	}
	t := b.purses.terms
	return &protocol.PurseCertificates{Serial: cert.Serial.String(), Escrow: escrow,
		BankCert: t.BankCert.Marshal(), DeviceCert: cert.Marshal(), RootKey: t.RootKey,
		Revocations: crl.Marshal(), Policy: wirePolicy(t.Policy)}, nil
}

func wirePolicy(p offline.Policy) protocol.OfflinePolicy {
	return protocol.OfflinePolicy{Mode: p.Mode.String(), PaymentCap: p.PaymentCap, PurseCap: p.PurseCap,
		PaymentsBeforeSync: p.PaymentsBeforeSync, LossBearer: p.LossBearer.String()}
}

func (c walletCall) fundPurse(ctx context.Context, id string, body json.RawMessage) (string, any, error) {
	var m protocol.PurseFund
	unlock, err := c.instruction(protocol.TypePurseFund, id, body, &m)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	r, err := c.b.fundPurse(ctx, c.w, id, m.Serial, m.Amount)
	return protocol.TypePurseFunded, r, err
}

// fundPurse moves money from the wallet into its purse's escrow and signs
// the receipt the purse applies. The bank numbers each purse's fundings 1,
// 2, 3, … as the ledger confirms them, so a retried instruction gets the
// same receipt, which the purse applies once, in whatever order the
// answers reach it. A funding is remembered by its operation id, so a
// retry is answered before the cap is checked again.
func (b *Bank) fundPurse(ctx context.Context, w *Wallet, requestID, serial string, amount int64) (*protocol.PurseFunded, error) {
	if err := b.offlineOn(); err != nil {
		return nil, err
	}
	if amount <= 0 {
		return nil, fail(protocol.CodeInvalidAmount, "an amount must be a positive whole number of yen, got %d", amount)
	}
	sn, rec, err := b.walletPurse(w, serial)
	if err != nil {
		return nil, err
	}
	op := opID(w, requestID)
	done, found, err := b.st.funding(op)
	if err != nil {
		return nil, err
	}
	if found && (done.Serial != serial || done.Amount != amount) {
		return nil, fail(protocol.CodeRequestIDReused, "this request id was used for another instruction")
	}
	if !found {
		// Checked once, and the intent kept before the transfer: a retry
		// after a lost answer resends it under the same id rather than meet
		// a cap the first attempt has already filled.
		if err := b.checkFunding(ctx, sn, rec, amount); err != nil {
			return nil, err
		}
		done = fundingRec{Serial: serial, Amount: amount}
		if err := b.st.putFunding(op, done); err != nil {
			return nil, err
		}
	}
	if done.Seq == 0 {
		rc, err := b.led.Transfer(ctx, op, ledger.AccountID(w.addr), ledger.AccountID(rec.Escrow), amount)
		if err != nil {
			if refused(err) {
				b.dropFunding(op)
			}
			return nil, fromLedger(err)
		}
		done.Seq, done.Time = rc.Seq, rc.Time
	}
	if done.Number == 0 {
		if done, err = b.st.numberFunding(op, done); err != nil {
			return nil, err
		}
	}
	f := offline.FundingReceipt{Serial: sn, Seq: done.Number, Amount: amount, Time: done.Time}
	f.Sign(b.cfg.OfflineKey)
	out := &protocol.PurseFunded{Serial: serial, Amount: amount, Receipt: f.Marshal(), Seq: done.Seq, Time: done.Time}
	if escrow, err := b.led.Account(ctx, ledger.AccountID(rec.Escrow)); err == nil {
		out.Escrow = escrow.Balance
	}
	return out, nil
}

// fundingRec is a funding asked of the ledger, kept to answer retries; Seq
// (the ledger record) is 0 until the ledger has answered, and Number (the
// purse's funding number) until the bank has numbered it.
type fundingRec struct {
	Serial string    `json:"serial"`
	Amount int64     `json:"amount"`
	Seq    uint64    `json:"seq,omitempty"`
	Number uint64    `json:"number,omitempty"`
	Time   time.Time `json:"time"`
}

// dropFunding forgets a funding the ledger refused, so the request id can
// be used again once the wallet can pay.
func (b *Bank) dropFunding(op string) {
	if err := b.st.dropFunding(op); err != nil {
		b.logErr("forget a refused purse funding", err, "op", op)
	}
}

// checkFunding refuses to fund a revoked purse or one whose escrow would
// pass the purse cap.
func (b *Bank) checkFunding(ctx context.Context, sn offline.Serial, rec purseRec, amount int64) error {
	crl, err := b.cfg.Offline.Revocations(ctx)
	if err != nil {
		return fromOffline(err)
	}
	if crl.Contains(sn) {
		return fail(protocol.CodePurseRevoked, "purse %s is revoked; sync and defund it instead", sn)
	}
	escrow, err := b.led.Account(ctx, ledger.AccountID(rec.Escrow))
	if err != nil {
		return fromLedger(err)
	}
	if cap := b.purses.terms.Policy.PurseCap; amount > cap-escrow.Balance {
		return fail(protocol.CodePurseCap, "purse escrow holds %d yen of its %d yen cap; at most %d more", escrow.Balance, cap, max(cap-escrow.Balance, 0))
	}
	return nil
}

func (c walletCall) syncPurse(ctx context.Context, _ string, body json.RawMessage) (string, any, error) {
	var m protocol.PurseSync
	if err := protocol.ReadBody(body, &m); err != nil {
		return "", nil, err
	}
	r, err := c.b.syncPurse(ctx, c.w, m)
	return protocol.TypePurseSynced, r, err
}

// syncPurse hands a purse's upload to the central ledger and passes on
// the ledger's sync receipt, which resets the purse's count of payments
// since its last sync only when the ledger holds its vouchers and they are
// covered. A purse in good standing whose certificate has less than half
// its life left gets a renewed one.
func (b *Bank) syncPurse(ctx context.Context, w *Wallet, m protocol.PurseSync) (*protocol.PurseSynced, error) {
	if err := b.offlineOn(); err != nil {
		return nil, err
	}
	sn, rec, err := b.walletPurse(w, m.Serial)
	if err != nil {
		return nil, err
	}
	if n := len(m.Sent) + len(m.Received); n > protocol.MaxSyncVouchers {
		return nil, fail(protocol.CodeTooManyVouchers, "%d vouchers; at most %d per purse_sync", n, protocol.MaxSyncVouchers)
	}
	up := settlement.Upload{Device: sn, Sent: m.Sent, Received: m.Received, ReceivedBefore: m.ReceivedBefore, Counter: m.Counter}
	if m.ReceivedTotal != nil {
		up.ReceivedTotal, up.TotalKnown = *m.ReceivedTotal, true
	}
	rep, err := b.cfg.Offline.Reconcile(ctx, up)
	if err != nil {
		return nil, fromOffline(err)
	}
	out := syncAnswer(rep)
	out.Receipt = rep.Receipt.Marshal()
	if acct, err := b.led.Account(ctx, ledger.AccountID(rec.Escrow)); err == nil {
		out.Escrow = acct.Balance
	}
	crl, err := b.cfg.Offline.Revocations(ctx)
	if err != nil {
		return nil, fromOffline(err)
	}
	out.RevocationSeq = crl.Seq
	if !crl.Contains(sn) {
		// The upload is settled whatever becomes of the renewal; a purse
		// not renewed now is at its next sync.
		if out.DeviceCert, err = b.renewPurse(ctx, w, sn, rec); err != nil {
			b.logErr("renew a purse's certificate", err, "serial", sn.String())
		}
	}
	return out, nil
}

// renewPurse certifies the purse again, for a full lifetime from now, once
// its certificate has less than half its life left; it returns the new
// certificate's encoding, or nil when none is due or the ledger refuses it
// (a device revoked meanwhile).
func (b *Bank) renewPurse(ctx context.Context, w *Wallet, sn offline.Serial, rec purseRec) ([]byte, error) {
	cur, err := offline.ParseDeviceCert(rec.Cert)
	if err != nil {
		return nil, err
	}
	now := b.now()
	if cur.Expires.Sub(now) > b.purses.terms.Policy.CertLifetime/2 {
		return nil, nil
	}
	next := cur
	next.Issued, next.Expires = now, now.Add(b.purses.terms.Policy.CertLifetime)
	if next, err = offline.IssueDeviceCert(b.cfg.OfflineKey, next); err != nil {
		return nil, err
	}
	if _, err := b.cfg.Offline.RegisterDevice(ctx, next, ledger.AccountID(w.addr)); err != nil {
		if settlement.ErrorCode(err) == settlement.ErrDeviceRevoked.Code {
			return nil, nil
		}
		return nil, fromOffline(err)
	}
	rec.Cert = next.Marshal()
	if err := b.st.savePurse(sn.String(), rec); err != nil {
		return nil, err
	}
	b.log.Info("purse certificate renewed", "wallet", w.addr, "serial", sn.String(), "expires", next.Expires)
	return rec.Cert, nil
}

func syncAnswer(rep settlement.Report) *protocol.PurseSynced {
	out := &protocol.PurseSynced{Settled: rep.Settled, Pending: rep.Pending, Rejected: rep.Rejected,
		Duplicate: rep.Duplicate, SettledAmount: rep.SettledAmount.Clamp()}
	for _, v := range rep.Vouchers {
		o := protocol.VoucherOutcome{Hash: v.Hash.String(), Payer: v.Payer.String(), Counter: v.Counter,
			Amount: v.Amount, Outcome: string(v.Outcome), Reason: v.Reason, Fault: v.Fault, FromEscrow: v.FromEscrow,
			FromBearer: v.FromBearer, Bearer: string(v.Bearer), PayeeLoss: v.PayeeLoss}
		if !v.Payee.IsZero() {
			o.Payee = v.Payee.String()
		}
		out.Vouchers = append(out.Vouchers, o)
	}
	for _, c := range rep.Conflicts {
		oc := protocol.OfflineConflict{Kind: string(c.Kind), Device: c.Device.String(), Detail: c.Detail, Revokes: c.Revokes}
		if c.Kind == offline.BankCertificate {
			oc.Bank = string(c.Bank)
		}
		for _, h := range c.Evidence {
			oc.Evidence = append(oc.Evidence, h.String())
		}
		out.Conflicts = append(out.Conflicts, oc)
	}
	return out
}

func (c walletCall) revocations(ctx context.Context, _ string, _ json.RawMessage) (string, any, error) {
	if err := c.b.offlineOn(); err != nil {
		return "", nil, err
	}
	crl, err := c.b.cfg.Offline.Revocations(ctx)
	if err != nil {
		return "", nil, fromOffline(err)
	}
	return protocol.TypeRevocationList, &protocol.RevocationsResult{Seq: crl.Seq, List: crl.Marshal()}, nil
}

// fromOffline turns the settlement service's refusals into protocol codes.
func fromOffline(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	switch settlement.ErrorCode(err) {
	case settlement.ErrUnknownDevice.Code, settlement.ErrNotYourDevice.Code:
		return fail(protocol.CodeUnknownPurse, "%v", err)
	case settlement.ErrTooLarge.Code:
		return fail(protocol.CodeTooManyVouchers, "%v", err)
	case settlement.ErrDeviceExists.Code:
		return fail(protocol.CodePurseExists, "%v", err)
	case settlement.ErrOfflineDisabled.Code:
		return fail(protocol.CodeOfflineDisabled, "the central ledger settles no offline vouchers now")
	case settlement.ErrBadCertificate.Code, settlement.ErrUnknownBank.Code:
		// The bank's own certificates or keys are wrong: not the wallet's doing.
		return fail(protocol.CodeInternal, "the central ledger refused the bank's offline certificate: %v", err)
	case "":
		if ledger.ErrorCode(err) != "" {
			return fromLedger(err)
		}
	}
	return fail(protocol.CodeUnavailable, "offline settlement at the central ledger failed (%v); retry", err)
}

func (c walletCall) retirePurse(ctx context.Context, id string, body json.RawMessage) (string, any, error) {
	var m protocol.PurseRetire
	unlock, err := c.instruction(protocol.TypePurseRetire, id, body, &m)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	r, err := c.b.retirePurse(ctx, c.w, m.Serial)
	return protocol.TypePurseRetired, r, err
}

// retirePurse revokes the wallet's purse, which its owner lost: the ledger
// pays what is sent to it into the wallet from now on and returns its
// escrow when the settlement window closes. The wallet may then provision
// a new purse. Retiring again answers the same.
func (b *Bank) retirePurse(ctx context.Context, w *Wallet, serial string) (*protocol.PurseRetired, error) {
	if err := b.offlineOn(); err != nil {
		return nil, err
	}
	sn, err := offline.ParseSerial(serial)
	if err != nil {
		return nil, fail(protocol.CodeUnknownPurse, "purse %q is not a purse serial (32 lowercase hex digits)", serial)
	}
	rec, found, err := b.st.purse(serial)
	if err == nil && (!found || rec.KeyID != w.keyID) {
		err = fail(protocol.CodeUnknownPurse, "purse %q does not belong to this wallet", serial)
	}
	if err != nil {
		return nil, err
	}
	info, err := b.cfg.Offline.RetireDevice(ctx, sn)
	if err != nil {
		return nil, fromOffline(err)
	}
	if err := b.st.forgetPurseOf(w.keyID, serial); err != nil {
		return nil, err
	}
	b.log.Info("purse retired", "wallet", w.addr, "serial", serial)
	return &protocol.PurseRetired{Serial: serial, Escrow: info.EscrowBalance}, nil
}

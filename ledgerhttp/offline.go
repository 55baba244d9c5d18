package ledgerhttp

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// The offline settlement API: banks certify their offline key, register
// devices, hand in purse uploads and fetch the revocation list.

type certifyRequest struct {
	Key []byte `json:"key"`
}

type wirePolicy struct {
	Mode               string `json:"mode"`
	PaymentCap         int64  `json:"payment_cap"`
	PurseCap           int64  `json:"purse_cap"`
	PaymentsBeforeSync uint32 `json:"payments_before_sync"`
	CertLifetime       string `json:"cert_lifetime"` // a Go duration
	LossBearer         string `json:"loss_bearer"`
	UploadGrace        string `json:"upload_grace,omitempty"` // a Go duration
}

type certifyResponse struct {
	BankCert []byte     `json:"bank_cert"`
	RootKey  []byte     `json:"root_key"`
	Policy   wirePolicy `json:"policy"`
}

type deviceRequest struct {
	Cert   []byte           `json:"cert"`
	Wallet ledger.AccountID `json:"wallet"`
}

type deviceResponse struct {
	Escrow ledger.AccountID `json:"escrow"`
}

type reconcileRequest struct {
	Device         string   `json:"device"`
	Sent           [][]byte `json:"sent"`
	Received       [][]byte `json:"received"`
	ReceivedBefore uint64   `json:"received_before"`          // vouchers the purse received before received[0]
	Counter        uint64   `json:"counter"`                  // the purse's counter, as the wallet says
	ReceivedTotal  *uint64  `json:"received_total,omitempty"` // vouchers the purse received in all, as the wallet says
}

type revocationsResponse struct {
	List []byte `json:"list"`
}

type wireVoucherResult struct {
	Hash         string           `json:"hash"`
	Payer        string           `json:"payer"`
	Counter      uint64           `json:"counter"`
	Payee        string           `json:"payee"`
	Amount       int64            `json:"amount"`
	Outcome      string           `json:"outcome"`
	Reason       string           `json:"reason,omitempty"`
	Fault        string           `json:"fault,omitempty"`
	PayeeAccount ledger.AccountID `json:"payee_account,omitempty"`
	FromEscrow   int64            `json:"from_escrow"`
	FromBearer   int64            `json:"from_bearer"`
	Bearer       ledger.AccountID `json:"bearer,omitempty"`
	PayeeLoss    int64            `json:"payee_loss"`
	Seq          uint64           `json:"seq"`
}

type wireConflict struct {
	Seq      uint64           `json:"seq"`
	Kind     string           `json:"kind"`
	Device   string           `json:"device"`
	Bank     ledger.AccountID `json:"bank"`
	Evidence []string         `json:"evidence"`
	Detail   string           `json:"detail"`
	Time     time.Time        `json:"time"`
	Revokes  bool             `json:"revokes"`
}

type wireReport struct {
	Device        string              `json:"device"`
	Vouchers      []wireVoucherResult `json:"vouchers"`
	Freed         []wireVoucherResult `json:"freed,omitempty"`
	Conflicts     []wireConflict      `json:"conflicts,omitempty"`
	Revoked       []string            `json:"revoked,omitempty"`
	Settled       int                 `json:"settled"`
	Pending       int                 `json:"pending"`
	Rejected      int                 `json:"rejected"`
	Duplicate     int                 `json:"duplicate"`
	SettledAmount settlement.Sum      `json:"settled_amount"`
	SyncedThrough uint64              `json:"synced_through"`
	Receipt       []byte              `json:"receipt"` // the ledger's sync receipt for the device, signed by the root key
}

func (s *Server) offlineRoutes() []route {
	return []route{
		{"POST /v1/offline/certify", s.authed(s.offlineOnly(s.handleCertify))},
		{"POST /v1/offline/devices", s.authed(s.offlineOnly(s.handleDevice))},
		{"POST /v1/offline/reconcile", s.authed(s.offlineOnly(s.handleReconcile))},
		{"GET /v1/offline/revocations", s.authed(s.offlineOnly(s.handleRevocations))},
		{"POST /v1/offline/devices/{serial}/retire", s.authed(s.offlineOnly(s.handleRetire))},
	}
}

type bankHandler = func(http.ResponseWriter, *http.Request, *ledger.Intermediary)

// settlerHandler answers an offline call with the settler that takes it.
type settlerHandler = func(http.ResponseWriter, *http.Request, *ledger.Intermediary, *settlement.Settler)

func (s *Server) offlineOnly(h settlerHandler) bankHandler {
	return func(w http.ResponseWriter, r *http.Request, bank *ledger.Intermediary) {
		if st, ok := s.settlerNow(w, "ask the leader again under the same operation id"); ok {
			h(w, r, bank, st)
		}
	}
}

// settlerNow is the settler that settles offline vouchers here now, or
// answers why there is none: this ledger settles none (404), or this
// replica does not just now (503 not_leader, with what to do next).
func (s *Server) settlerNow(w http.ResponseWriter, next string) (*settlement.Settler, bool) {
	if s.settler == nil {
		writeError(w, http.StatusNotFound, settlement.ErrOfflineDisabled.Code, settlement.ErrOfflineDisabled.Message)
		return nil, false
	}
	st := s.settler()
	if st == nil {
		writeError(w, http.StatusServiceUnavailable, ledger.ErrNotLeader.Code,
			"this replica does not settle offline vouchers now (a follower, or a leader still opening settlement); "+next)
		return nil, false
	}
	return st, true
}

// handleCertify certifies the key the bank signed in with, and only that:
// a bank cannot have the root certify a key it does not hold.
func (s *Server) handleCertify(w http.ResponseWriter, r *http.Request, bank *ledger.Intermediary, st *settlement.Settler) {
	var req certifyRequest
	if !decode(w, r, &req) {
		return
	}
	if key, _ := s.sessions.key(bank.ID()); !key.Equal(ed25519.PublicKey(req.Key)) {
		writeError(w, http.StatusForbidden, "bad_certificate", "the root certifies only the key the bank signs in with")
		return
	}
	c, err := st.CertifyBank(bank.ID(), req.Key)
	if err != nil {
		s.writeSettlementError(w, err)
		return
	}
	p := st.Policy()
	writeJSON(w, http.StatusOK, certifyResponse{BankCert: c.Marshal(), RootKey: st.RootKey(), Policy: wirePolicy{
		Mode: p.Mode.String(), PaymentCap: p.PaymentCap, PurseCap: p.PurseCap, PaymentsBeforeSync: p.PaymentsBeforeSync,
		CertLifetime: p.CertLifetime.String(), LossBearer: p.LossBearer.String(), UploadGrace: p.UploadGrace.String()}})
}

func (s *Server) handleDevice(w http.ResponseWriter, r *http.Request, bank *ledger.Intermediary, st *settlement.Settler) {
	var req deviceRequest
	if !decode(w, r, &req) {
		return
	}
	cert, err := offline.ParseDeviceCert(req.Cert)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_certificate", err.Error())
		return
	}
	escrow, err := st.RegisterDevice(r.Context(), bank.ID(), cert, req.Wallet)
	if err != nil {
		s.writeSettlementError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, deviceResponse{Escrow: escrow})
}

func (s *Server) handleReconcile(w http.ResponseWriter, r *http.Request, bank *ledger.Intermediary, st *settlement.Settler) {
	var req reconcileRequest
	if !decode(w, r, &req) {
		return
	}
	sn, err := offline.ParseSerial(req.Device)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	up := settlement.Upload{Device: sn, Sent: req.Sent, Received: req.Received, ReceivedBefore: req.ReceivedBefore, Counter: req.Counter}
	if req.ReceivedTotal != nil {
		up.ReceivedTotal, up.TotalKnown = *req.ReceivedTotal, true
	}
	rep, err := st.Reconcile(r.Context(), bank.ID(), up)
	if err != nil {
		s.writeSettlementError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toWireReport(rep))
}

func (s *Server) handleRevocations(w http.ResponseWriter, _ *http.Request, _ *ledger.Intermediary, st *settlement.Settler) {
	writeJSON(w, http.StatusOK, revocationsResponse{List: st.Revocations().Marshal()})
}

// OfflineDevice is what the ledger knows of a purse, as a retirement and
// GET /v1/offline/devices/{serial} answer.
type OfflineDevice struct {
	Serial        string           `json:"serial"`
	Bank          ledger.AccountID `json:"bank"`
	Wallet        ledger.AccountID `json:"wallet"`
	Escrow        ledger.AccountID `json:"escrow"`
	EscrowBalance int64            `json:"escrow_balance"`
	Mode          string           `json:"mode"`
	Revoked       string           `json:"revoked,omitempty"`
}

func (s *Server) handleRetire(w http.ResponseWriter, r *http.Request, bank *ledger.Intermediary, st *settlement.Settler) {
	sn, err := offline.ParseSerial(r.PathValue("serial"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	d, err := st.RetireDevice(r.Context(), bank.ID(), sn)
	if err != nil {
		s.writeSettlementError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, deviceOf(d))
}

func deviceOf(d settlement.DeviceInfo) OfflineDevice {
	return OfflineDevice{Serial: d.Serial.String(), Bank: d.Bank, Wallet: d.Wallet, Escrow: d.Escrow,
		EscrowBalance: d.EscrowBalance, Mode: d.Mode.String(), Revoked: string(d.Revoked)}
}

func (s *Server) writeSettlementError(w http.ResponseWriter, err error) {
	var se *settlement.Error
	if errors.As(err, &se) {
		status := http.StatusConflict
		if se == settlement.ErrStopped {
			status = http.StatusServiceUnavailable
			if s.replica != nil {
				// The leader's settler stopped on a write in doubt; the
				// settler the group opens next knows whether it holds.
				writeError(w, status, ledger.ErrNotLeader.Code, err.Error()+"; ask the leader again under the same operation id")
				return
			}
		}
		writeError(w, status, se.Code, err.Error())
		return
	}
	writeLedgerError(w, err)
}

// Certify has the root certify the bank's offline key; over the network
// that is the key the client signs in with.
func (c *Client) Certify(ctx context.Context, key ed25519.PublicKey) (settlement.Terms, error) {
	var r certifyResponse
	if err := c.call(ctx, http.MethodPost, "/v1/offline/certify", certifyRequest{Key: key}, &r); err != nil {
		return settlement.Terms{}, err
	}
	bc, err := offline.ParseBankCert(r.BankCert)
	if err != nil {
		return settlement.Terms{}, err
	}
	pol, err := fromWirePolicy(r.Policy)
	if err != nil {
		return settlement.Terms{}, err
	}
	return settlement.Terms{BankCert: bc, RootKey: r.RootKey, Policy: pol}, nil
}

func fromWirePolicy(w wirePolicy) (offline.Policy, error) {
	var p offline.Policy
	var err error
	if p.Mode, err = offline.ParseMode(w.Mode); err != nil {
		return p, err
	}
	if p.LossBearer, err = offline.ParseBearer(w.LossBearer); err != nil {
		return p, err
	}
	if p.CertLifetime, err = time.ParseDuration(w.CertLifetime); err != nil {
		return p, fmt.Errorf("ledgerhttp: certificate lifetime %q: %w", w.CertLifetime, err)
	}
	if w.UploadGrace != "" {
		if p.UploadGrace, err = time.ParseDuration(w.UploadGrace); err != nil {
			return p, fmt.Errorf("ledgerhttp: upload grace %q: %w", w.UploadGrace, err)
		}
	}
	p.PaymentCap, p.PurseCap, p.PaymentsBeforeSync = w.PaymentCap, w.PurseCap, w.PaymentsBeforeSync
	return p, p.Validate()
}

// RegisterDevice registers a device the bank certified.
func (c *Client) RegisterDevice(ctx context.Context, cert offline.DeviceCert, wallet ledger.AccountID) (ledger.AccountID, error) {
	var r deviceResponse
	err := c.call(ctx, http.MethodPost, "/v1/offline/devices", deviceRequest{Cert: cert.Marshal(), Wallet: wallet}, &r)
	return r.Escrow, err
}

// Reconcile hands in a device's upload.
func (c *Client) Reconcile(ctx context.Context, up settlement.Upload) (settlement.Report, error) {
	var r wireReport
	req := reconcileRequest{Device: up.Device.String(), Sent: up.Sent, Received: up.Received,
		ReceivedBefore: up.ReceivedBefore, Counter: up.Counter}
	if up.TotalKnown {
		req.ReceivedTotal = &up.ReceivedTotal
	}
	if err := c.callSlow(ctx, http.MethodPost, "/v1/offline/reconcile", req, &r); err != nil {
		return settlement.Report{}, err
	}
	return fromWireReport(r)
}

// Revocations returns the current revocation list, checked against nothing:
// purses verify it under the root key.
func (c *Client) Revocations(ctx context.Context) (offline.RevocationList, error) {
	var r revocationsResponse
	if err := c.call(ctx, http.MethodGet, "/v1/offline/revocations", nil, &r); err != nil {
		return offline.RevocationList{}, err
	}
	return offline.ParseRevocationList(r.List)
}

// RetireDevice revokes a device its owner reported lost.
func (c *Client) RetireDevice(ctx context.Context, serial offline.Serial) (settlement.DeviceInfo, error) {
	var r OfflineDevice
	if err := c.call(ctx, http.MethodPost, "/v1/offline/devices/"+serial.String()+"/retire", struct{}{}, &r); err != nil {
		return settlement.DeviceInfo{}, err
	}
	mode, err := offline.ParseMode(r.Mode)
	if err != nil {
		return settlement.DeviceInfo{}, err
	}
	return settlement.DeviceInfo{Serial: serial, Bank: r.Bank, Wallet: r.Wallet, Escrow: r.Escrow,
		EscrowBalance: r.EscrowBalance, Mode: mode, Revoked: offline.ConflictKind(r.Revoked)}, nil
}

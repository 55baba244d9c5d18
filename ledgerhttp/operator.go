package ledgerhttp

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// The central bank's operator reads the ledger as a whole, not as one
// bank: its journal, an audit of its totals and, at a ledger that settles
// offline vouchers, settlement's figures. These reads need the
// operator's token and are answered by whichever replica is asked, from
// what it has applied; GET /v1/replica, without a token, says how far
// that is. A dashboard (the demo's, pointed at a ledger in other
// processes) is built on them.

// ReplicaStanding is one replica's standing, as GET /v1/replica reports it.
type ReplicaStanding struct {
	ID           string `json:"id"`
	Role         string `json:"role"`             // leader, follower, candidate or shutdown
	Leader       string `json:"leader,omitempty"` // the leader it knows; absent when none
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`  // the last Raft entry it knows committed
	AppliedIndex uint64 `json:"applied_index"` // the last Raft entry it applied to its ledger
	Head         uint64 `json:"head"`          // its journal's last record
}

// JournalPage is a run of committed operations in journal order, as
// GET /v1/journal answers.
type JournalPage struct {
	Events []ledger.Event `json:"events"`
	Head   uint64         `json:"head"` // the journal's last record at the replica asked
}

// Audit is the ledger's totals as it keeps them and as counted afresh
// from every account, as GET /v1/audit answers. Conserved says the two
// agree and circulation equals what is held.
type Audit struct {
	Running   ledger.Totals `json:"running"`
	Counted   ledger.Totals `json:"counted"`
	Conserved bool          `json:"conserved"`
}

// OfflineSummary is offline settlement's figures, as GET
// /v1/offline/summary answers. Amounts are in yen, clamped to the int64
// range.
type OfflineSummary struct {
	Vouchers       int              `json:"vouchers"`
	Settled        int              `json:"settled"`
	Pending        int              `json:"pending"`
	Rejected       int              `json:"rejected"`
	SettledAmount  int64            `json:"settled_amount"`
	PendingAmount  int64            `json:"pending_amount"`
	Devices        int              `json:"devices"`
	RevokedDevices int              `json:"revoked_devices"`
	Conflicts      map[string]int   `json:"conflicts"`
	LossByBearer   map[string]int64 `json:"loss_by_bearer"`
	LossByPayees   int64            `json:"loss_by_payees"`
	RefusedAmount  int64            `json:"refused_amount"`
	Policy         OfflinePolicy    `json:"policy"`
}

// OfflinePolicy is the offline purse rules the ledger certifies purses under.
type OfflinePolicy struct {
	Mode               string `json:"mode"`
	PaymentCap         int64  `json:"payment_cap"`
	PurseCap           int64  `json:"purse_cap"`
	PaymentsBeforeSync int    `json:"payments_before_sync"`
	LossBearer         string `json:"loss_bearer"`
	CertLifetime       string `json:"cert_lifetime"` // a Go duration, such as 720h0m0s
}

// OfflineVoucher is what the ledger holds of a voucher handed in, as GET
// /v1/offline/vouchers/{hash} answers.
type OfflineVoucher struct {
	Hash    string `json:"hash"`
	Payer   string `json:"payer"` // the paying purse's serial
	Counter uint64 `json:"counter"`
	Payee   string `json:"payee,omitempty"` // absent for a defund to the payer's own wallet
	Amount  int64  `json:"amount"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

// maxJournalWait bounds GET /v1/journal's wait for a next operation.
const maxJournalWait = 10 * time.Second

func (s *Server) operatorRoutes() []route {
	rs := []route{
		{"GET /v1/journal", s.operator(s.handleJournal)},
		{"GET /v1/audit", s.operator(s.handleAudit)},
		{"GET /v1/offline/summary", s.operator(s.settling(s.handleOfflineSummary))},
		{"GET /v1/offline/vouchers/{hash}", s.operator(s.settling(s.handleOfflineVoucher))},
		{"GET /v1/offline/devices/{serial}", s.operator(s.settling(s.handleOfflineDevice))},
	}
	if s.replica != nil {
		rs = append(rs, route{"GET /v1/replica", s.handleReplica})
	}
	return rs
}

// operator runs h for a request that bears the operator's token.
func (s *Server) operator(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.operatorToken == "" {
			writeError(w, http.StatusForbidden, "forbidden", "this ledger was started without an operator token, so it takes no operator's calls")
			return
		}
		if !s.bearsOperatorToken(r) {
			writeError(w, http.StatusUnauthorized, "unauthenticated", "this call is the operator's: send Authorization: Bearer <operator.token>")
			return
		}
		if err := s.ledger.Err(); err != nil {
			writeLedgerError(w, err) // its figures may be behind what was committed: ask another replica
			return
		}
		h(w, r)
	}
}

func (s *Server) bearsOperatorToken(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && s.operatorToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.operatorToken)) == 1
}

// sessionOrOperator runs h for the operator, or as authed does for a
// bank's session.
func (s *Server) sessionOrOperator(op http.HandlerFunc, bank bankHandler) http.HandlerFunc {
	asBank := s.authed(bank)
	return func(w http.ResponseWriter, r *http.Request) {
		if s.bearsOperatorToken(r) {
			op(w, r)
			return
		}
		asBank(w, r)
	}
}

// settling runs h with the settler that settles offline vouchers here now.
func (s *Server) settling(h func(http.ResponseWriter, *http.Request, *settlement.Settler)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if st, ok := s.settlerNow(w, "ask the leader"); ok {
			h(w, r, st)
		}
	}
}

func (s *Server) handleReplica(w http.ResponseWriter, _ *http.Request) {
	st := ReplicaStanding{ID: s.replica.ID(), Role: s.replica.Role()}
	st.Leader, _ = s.replica.Leader()
	st.Term, st.CommitIndex, st.AppliedIndex = s.replica.Progress()
	st.Head, _ = s.ledger.Head()
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleOperatorTotals(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.ledger.Totals())
}

// handleJournal answers the operations from sequence from on, at most
// limit; when there are none yet it waits up to wait for the next.
func (s *Server) handleJournal(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err1 := queryUint(q, "from")
	limit, err2 := queryUint(q, "limit")
	var wait time.Duration
	var err3 error
	if v := q.Get("wait"); v != "" {
		if wait, err3 = time.ParseDuration(v); err3 != nil || wait < 0 || wait > maxJournalWait {
			err3 = fmt.Errorf("wait must be a duration from 0s to %s, such as 1s, got %q", maxJournalWait, v)
		}
	}
	switch {
	case q.Get("from") == "":
		err1 = errors.New("from is required: the first sequence number wanted, 1 or more")
	case err1 == nil && from == 0:
		err1 = errors.New("from must be a sequence number from 1 on, got 0")
	}
	if badQuery(w, err1, err2, err3) {
		return
	}
	if limit == 0 {
		limit = ledger.MaxPage
	}
	events, err := s.journalFrom(r.Context(), from, int(min(limit, ledger.MaxPage)), wait)
	if err != nil {
		writeLedgerError(w, err)
		return
	}
	head, _ := s.ledger.Head()
	page, err := fitPage(events)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "encode the journal page: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, journalPageOut{Events: page, Head: head})
}

// maxJournalPage bounds a journal page's encoding (one operation more
// than fits is still sent, so a page always moves its reader on): a
// batch of transfers is large, and a client reads a few MiB at most.
const maxJournalPage = 1 << 20

// journalPageOut is a JournalPage as sent, its events encoded already.
type journalPageOut struct {
	Events []json.RawMessage `json:"events"`
	Head   uint64            `json:"head"`
}

// fitPage encodes the first events whose encoding fits maxJournalPage,
// each once: the sizes measured are the bytes sent.
func fitPage(events []ledger.Event) ([]json.RawMessage, error) {
	out := []json.RawMessage{}
	size := 0
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		if size += len(b) + 1; size > maxJournalPage && len(out) > 0 {
			break
		}
		out = append(out, b)
	}
	return out, nil
}

// journalFrom reads the journal from sequence from, waiting up to wait
// for an operation to be committed there when none is yet. Commits below
// from (a replica catching up) do not end the wait. A request cut short
// by the server's shutdown is an error, so its caller asks another
// replica.
func (s *Server) journalFrom(ctx context.Context, from uint64, limit int, wait time.Duration) ([]ledger.Event, error) {
	deadline := time.Now().Add(wait)
	for {
		events, err := s.ledger.Events(from, limit)
		if err != nil || len(events) > 0 || !time.Now().Before(deadline) {
			return events, err
		}
		sub := s.ledger.Subscribe(1)
		// Read again: an operation committed before the subscription
		// began reaches only the journal.
		if events, err = s.ledger.Events(from, limit); err != nil || len(events) > 0 {
			sub.Close()
			return events, err
		}
		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-sub.C: // or closed: the ledger closed, or the subscriber fell behind
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			sub.Close()
			return nil, fmt.Errorf("%w: the request ended while it waited", ledger.ErrClosed)
		}
		timer.Stop()
		sub.Close()
	}
}

func (s *Server) handleAudit(w http.ResponseWriter, _ *http.Request) {
	running, counted := s.ledger.Recount()
	writeJSON(w, http.StatusOK, Audit{Running: running, Counted: counted, Conserved: running == counted && counted.Conserved()})
}

func (s *Server) handleOfflineSummary(w http.ResponseWriter, _ *http.Request, st *settlement.Settler) {
	sum, pol := st.Summary(), st.Policy()
	out := OfflineSummary{Vouchers: sum.Vouchers, Settled: sum.Settled, Pending: sum.Pending, Rejected: sum.Rejected,
		SettledAmount: sum.SettledAmount.Clamp(), PendingAmount: sum.PendingAmount.Clamp(),
		Devices: sum.Devices, RevokedDevices: sum.RevokedDevices, Conflicts: map[string]int{}, LossByBearer: map[string]int64{},
		LossByPayees: sum.LossByPayees.Clamp(), RefusedAmount: sum.RefusedAmount.Clamp(),
		Policy: OfflinePolicy{Mode: pol.Mode.String(), PaymentCap: pol.PaymentCap, PurseCap: pol.PurseCap,
			PaymentsBeforeSync: int(pol.PaymentsBeforeSync), LossBearer: pol.LossBearer.String(), CertLifetime: pol.CertLifetime.String()}}
	for k, v := range sum.Conflicts {
		out.Conflicts[string(k)] = v
	}
	for k, v := range sum.LossByBearer {
		out.LossByBearer[string(k)] = v.Clamp()
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleOfflineVoucher(w http.ResponseWriter, r *http.Request, st *settlement.Settler) {
	var h offline.Hash
	b, err := hex.DecodeString(r.PathValue("hash"))
	if err != nil || len(b) != len(h) {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("a voucher's hash is 64 hex digits, got %q", r.PathValue("hash")))
		return
	}
	copy(h[:], b)
	_, res, ok := st.Voucher(h)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown_voucher", fmt.Sprintf("no voucher %s has been handed in", h))
		return
	}
	out := OfflineVoucher{Hash: h.String(), Payer: res.Payer.String(), Counter: res.Counter, Amount: res.Amount,
		Outcome: string(res.Outcome), Reason: res.Reason}
	if !res.Payee.IsZero() {
		out.Payee = res.Payee.String()
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleOfflineDevice(w http.ResponseWriter, r *http.Request, st *settlement.Settler) {
	sn, err := offline.ParseSerial(r.PathValue("serial"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	d, err := st.Device(sn)
	if err != nil {
		s.writeSettlementError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, deviceOf(d))
}

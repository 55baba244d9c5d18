package ledgerhttp

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/jsonbody"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/reqid"
)

// DefaultSessionTTL is how long a session token lasts.
const DefaultSessionTTL = time.Hour

// maxBody bounds a request body: MaxOpsPerRequest transfers with room to spare.
const maxBody = 4 << 20

// ServerOptions tune a Server. The zero value is ready to use.
type ServerOptions struct {
	SessionTTL time.Duration       // DefaultSessionTTL when zero
	Settler    *settlement.Settler // offline settlement; nil when the ledger offers none
	Logger     *slog.Logger        // none when nil
	Now        func() time.Time    // time.Now when nil

	// Replica, for a replicated ledger, says this replica's role and its
	// group's leader, which /readyz reports; nil for a lone ledger.
	Replica Replica

	// Offline, for a replicated ledger that settles offline vouchers, is
	// the leader's settler now: nil on a follower and while a new leader
	// opens it, when offline calls are answered not_leader. Settler is
	// then left nil.
	Offline func() *settlement.Settler

	// Members, for a replicated ledger, lists and changes its group
	// (/v1/replicas).
	Members Membership
	// OperatorToken is the central bank's operator's: it changes the group
	// and reads the whole ledger (operator.go). None of those calls is
	// taken without one.
	OperatorToken string
}

// Replica is one replica of a replicated ledger as /readyz and
// GET /v1/replica see it.
type Replica interface {
	ID() string
	Role() string              // leader, follower, candidate or shutdown
	Leader() (id, addr string) // empty when no leader is known
	// Progress is the Raft term it is in, the last entry it knows
	// committed and the last it has applied to its ledger.
	Progress() (term, commit, applied uint64)
}

// Server serves one central ledger to the intermediaries whose keys it holds.
type Server struct {
	ledger   *ledger.Ledger
	settler  func() *settlement.Settler // nil when the ledger settles no offline vouchers
	replica  Replica
	members  Membership
	sessions *sessions

	operatorToken string
	log           *slog.Logger
	mux           *http.ServeMux
	failed        func() error // nil while the process can do its job; storageFailure
}

// NewServer serves l to the intermediaries in keys, each known by its
// ed25519 public key.
func NewServer(l *ledger.Ledger, keys map[ledger.AccountID]ed25519.PublicKey, opts ServerOptions) *Server {
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{ledger: l, settler: opts.Offline, replica: opts.Replica, members: opts.Members, operatorToken: opts.OperatorToken, sessions: newSessions(keys, opts.SessionTTL, opts.Now), log: opts.Logger, mux: http.NewServeMux()}
	if st := opts.Settler; st != nil {
		s.settler = func() *settlement.Settler { return st }
	}
	if l.Replicated() {
		s.sessions.registry = l.IntermediaryKey
	}
	s.failed = s.storageFailure
	for _, rt := range s.routes() {
		s.mux.HandleFunc(rt.pattern, rt.handler)
	}
	return s
}

// route is one endpoint: its http.ServeMux pattern and its handler.
type route struct {
	pattern string
	handler http.HandlerFunc
}

// routes lists every endpoint the server serves. docs/openapi.yaml
// documents each.
func (s *Server) routes() []route {
	return slices.Concat([]route{
		{"GET /healthz", s.handleHealth},
		{"GET /readyz", s.handleReady},
		{"GET /v1/challenge", s.handleChallenge},
		{"POST /v1/session", s.handleSession},
		{"POST /v1/ops", s.authed(s.handleOps)},
		{"GET /v1/accounts/{id}", s.authed(s.handleAccount)},
		{"GET /v1/accounts/{id}/history", s.authed(s.handleHistory)},
		{"GET /v1/holders/{id}", s.authed(s.handleHolder)},
		{"GET /v1/totals", s.sessionOrOperator(s.handleOperatorTotals, s.handleTotals)},
	}, s.longPollRoutes(), s.offlineRoutes(), s.memberRoutes(), s.operatorRoutes())
}

// Routes lists the patterns the server serves, such as "POST /v1/ops", as
// http.ServeMux takes them, so that a document of the API can be held to
// the code.
func (s *Server) Routes() []string {
	var out []string
	for _, rt := range s.routes() {
		out = append(out, rt.pattern)
	}
	return out
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) handleChallenge(w http.ResponseWriter, _ *http.Request) {
	c, ok := s.sessions.challenge()
	if !ok {
		writeError(w, http.StatusTooManyRequests, "too_many_challenges", "too many sign-ins under way; try again shortly")
		return
	}
	writeJSON(w, http.StatusOK, challengeResponse{Challenge: c})
}

func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	var req sessionRequest
	if !decode(w, r, &req) {
		return
	}
	token, expires, ok := s.sessions.open(req)
	if !ok {
		s.log.Warn("ledger sign-in refused", "intermediary", req.Intermediary)
		writeError(w, http.StatusUnauthorized, "unauthenticated", "sign-in refused: unknown intermediary, stale or reused challenge, or bad signature")
		return
	}
	writeJSON(w, http.StatusOK, sessionResponse{Token: token, Expires: expires})
}

// MinSeqHeader carries the last journal record a client has seen; a
// replica answers only once it has applied that record, so no answer goes
// back before what the client already knows.
const MinSeqHeader = "Cbdc-Min-Seq"

// minSeqWait is how long a replica waits to apply the record a caller
// has seen before it sends the caller on.
const minSeqWait = time.Second

// caughtUp reports whether this replica has applied the record the
// request says its caller has seen, waiting up to minSeqWait for it.
func (s *Server) caughtUp(r *http.Request) bool {
	v := r.Header.Get(MinSeqHeader)
	if v == "" {
		return true
	}
	want, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return true // not a number: nothing this replica can hold the caller to
	}
	for deadline := time.Now().Add(minSeqWait); ; time.Sleep(2 * time.Millisecond) {
		if seq, _ := s.ledger.Head(); seq >= want {
			return true
		}
		if time.Now().After(deadline) || r.Context().Err() != nil {
			return false
		}
	}
}

// authed runs h as the intermediary whose session token the request bears.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *ledger.Intermediary)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		id, valid := s.sessions.lookup(token)
		if !ok || !valid {
			writeError(w, http.StatusUnauthorized, "unauthenticated", "no valid session: sign in with GET /v1/challenge and POST /v1/session")
			return
		}
		if s.replica != nil && s.replica.Role() != "leader" {
			// Reads too: a follower's copy may be behind, and its relay
			// mailboxes are not the leader's.
			leader, _ := s.replica.Leader()
			writeError(w, http.StatusServiceUnavailable, ledger.ErrNotLeader.Code,
				fmt.Sprintf("this replica is not the ledger's leader (the leader is %q); ask the leader again under the same operation id", leader))
			return
		}
		if s.replica != nil && !s.caughtUp(r) {
			// A leader deposed without knowing it yet, behind what the
			// caller has already seen: its answers would go back in time.
			writeError(w, http.StatusServiceUnavailable, ledger.ErrNotLeader.Code,
				fmt.Sprintf("this replica has not applied record %s, which the caller has seen; ask the leader again", r.Header.Get(MinSeqHeader)))
			return
		}
		h(w, r, s.ledger.Intermediary(id))
	}
}

func (s *Server) handleOps(w http.ResponseWriter, r *http.Request, bank *ledger.Intermediary) {
	var req opsRequest
	if !decode(w, r, &req) {
		return
	}
	if len(req.Ops) == 0 || len(req.Ops) > MaxOpsPerRequest {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("a request carries 1 to %d operations, got %d", MaxOpsPerRequest, len(req.Ops)))
		return
	}
	results := make([]wireResult, len(req.Ops))
	var wg sync.WaitGroup
	for i, op := range req.Ops {
		wg.Go(func() {
			rc, err := apply(r.Context(), bank, op)
			results[i] = result(op.OpID, rc, err)
		})
	}
	wg.Wait()
	if rid := r.Header.Get(reqid.Header); s.log.Enabled(r.Context(), slog.LevelDebug) {
		if !reqid.Valid(rid) {
			rid = ""
		}
		for i, op := range req.Ops {
			code := ""
			if results[i].Error != nil {
				code = results[i].Error.Code
			}
			s.log.Debug("ledger op", "request_id", rid, "intermediary", bank.ID(), "type", op.Type, "seq", results[i].Seq, "code", code)
		}
	}
	writeJSON(w, http.StatusOK, opsResponse{Results: results})
}

func result(opID string, rc ledger.Receipt, err error) wireResult {
	if err != nil {
		return wireResult{OpID: opID, Error: toWireError(err)}
	}
	return wireResult{OpID: opID, Seq: rc.Seq, Time: rc.Time}
}

// errBadOp is an operation the wire format cannot express to the ledger.
var errBadOp = errors.New("bad operation")

// apply runs one operation as the bank.
func apply(ctx context.Context, bank *ledger.Intermediary, op wireOp) (ledger.Receipt, error) {
	switch op.Type {
	case "open":
		if op.Account == nil {
			return ledger.Receipt{}, fmt.Errorf("%w: open needs an account", errBadOp)
		}
		kind, err := ledger.ParseKind(op.Account.Kind)
		if err != nil {
			return ledger.Receipt{}, fmt.Errorf("%w: %v", errBadOp, err)
		}
		return bank.OpenAccount(ctx, op.OpID, ledger.AccountSpec{ID: op.Account.ID, Kind: kind, Intermediary: op.Account.Intermediary,
			Holder: op.Account.Holder, Limits: op.Account.Limits.limits()})
	case "close":
		return bank.CloseAccount(ctx, op.OpID, op.AccountID)
	case "limits":
		if op.Limits == nil {
			return ledger.Receipt{}, fmt.Errorf("%w: limits needs limits", errBadOp)
		}
		return bank.SetLimits(ctx, op.OpID, op.AccountID, op.Limits.limits())
	case "issue":
		return bank.Issue(ctx, op.OpID, op.Amount)
	case "redeem":
		return bank.Redeem(ctx, op.OpID, op.Amount)
	case "transfer":
		if len(op.Transfers) != 1 {
			return ledger.Receipt{}, fmt.Errorf("%w: transfer carries exactly one transfer, got %d", errBadOp, len(op.Transfers))
		}
		t := op.Transfers[0]
		return bank.Transfer(ctx, op.OpID, t.From, t.To, t.Amount)
	case "batch":
		return bank.Batch(ctx, op.OpID, fromWireTransfers(op.Transfers))
	}
	return ledger.Receipt{}, fmt.Errorf("%w: unknown type %q (want open, close, limits, issue, redeem, transfer or batch)", errBadOp, op.Type)
}

func toWireError(err error) *wireError {
	switch code := ledger.ErrorCode(err); {
	case code != "":
		return &wireError{Code: code, Message: err.Error()}
	case errors.Is(err, errBadOp):
		return &wireError{Code: "bad_op", Message: "ledgerhttp: " + err.Error()}
	default:
		return &wireError{Code: "unavailable", Message: "ledgerhttp: " + err.Error()}
	}
}

func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request, bank *ledger.Intermediary) {
	a, err := bank.Account(r.Context(), ledger.AccountID(r.PathValue("id")))
	if err != nil {
		writeLedgerError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request, bank *ledger.Intermediary) {
	q := r.URL.Query()
	cursor, err1 := queryUint(q, "cursor")
	limit, err2 := queryUint(q, "limit")
	if badQuery(w, err1, err2) {
		return
	}
	events, next, err := bank.History(r.Context(), ledger.AccountID(r.PathValue("id")), cursor, int(min(limit, ledger.MaxPage)))
	if err != nil {
		writeLedgerError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, historyResponse{Events: events, Next: next})
}

func (s *Server) handleHolder(w http.ResponseWriter, r *http.Request, bank *ledger.Intermediary) {
	h, err := bank.Holder(r.Context(), ledger.HolderID(r.PathValue("id")))
	if err != nil {
		writeLedgerError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

func (s *Server) handleTotals(w http.ResponseWriter, r *http.Request, bank *ledger.Intermediary) {
	t, err := bank.Totals(r.Context())
	if err != nil {
		writeLedgerError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func parseUint(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

func writeLedgerError(w http.ResponseWriter, err error) {
	e := toWireError(err)
	status, ok := ledgerStatus[e.Code]
	if !ok {
		status = http.StatusBadRequest
		if e.Code == "unavailable" {
			status = http.StatusServiceUnavailable
		}
	}
	writeError(w, status, e.Code, e.Message)
}

// ledgerStatus is the HTTP status of every ledger error, built from the
// ledger's own list and its classification of outcomes: what leaves an
// operation in doubt is 503 (ask again under the same id), a refusal a
// 4xx that asking again does not change.
var ledgerStatus = func() map[string]int {
	m := map[string]int{}
	for _, e := range ledger.Errors() {
		switch {
		case ledger.OutcomeOf(e) == ledger.InDoubt:
			m[e.Code] = http.StatusServiceUnavailable
		case e == ledger.ErrUnknownAccount || e == ledger.ErrUnknownHolder:
			m[e.Code] = http.StatusNotFound
		case e == ledger.ErrNotYours:
			m[e.Code] = http.StatusForbidden
		default:
			m[e.Code] = http.StatusBadRequest
		}
	}
	return m
}()

// decode reads a JSON body of bounded size, refusing unknown fields, or
// answers what is wrong with it in plain words.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	err := jsonbody.Decode(w, r, maxBody, v)
	if err == nil {
		return true
	}
	var je *jsonbody.Error
	if errors.As(err, &je) && je.TooLarge {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body over %d bytes", maxBody))
	} else {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorResponse{Error: wireError{Code: code, Message: message}})
}

// storageFailure is the ledger's storage failure, or offline
// settlement's: after either, that part refuses all work until it is
// reopened, which only a restart of the process does.
func (s *Server) storageFailure() error {
	if err := s.ledger.Err(); err != nil {
		return err
	}
	if s.settler == nil {
		return nil
	}
	if s.replica != nil {
		// A leader's settler stops when a write of it is in doubt, and
		// the replica opens another: not a fault of this process.
		return nil
	}
	return s.settler().Err()
}

// handleHealth says whether the process can do its job: 503 with the
// cause once its storage has failed, so that a supervisor restarts it.
func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	if err := s.failed(); err != nil {
		http.Error(w, "unhealthy: "+err.Error()+"; restarting the process reopens its files", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

// handleReady says whether to send the ledger traffic: 503 with the cause
// while its storage has failed.
func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	if err := s.failed(); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if s.replica == nil {
		w.Write([]byte("ready\n"))
		return
	}
	// A replica answers while its group has a leader: the leader takes
	// operations, a follower sends its callers on (not_leader). Cut off
	// from a leader, nothing can commit.
	leader, _ := s.replica.Leader()
	role := s.replica.Role()
	switch {
	case leader == "":
		http.Error(w, "not ready: "+role+", cut off: no leader known", http.StatusServiceUnavailable)
	case role == "leader":
		w.Write([]byte("ready: leader\n"))
	default:
		fmt.Fprintf(w, "ready: %s of leader %s\n", role, leader)
	}
}

package intermediary

import (
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/digital-yen/cbdc-sandbox/internal/jsonbody"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// Handler serves the bank: the wallet websocket at protocol.Path, the
// operator's admin API under /admin/ (bearer token), /healthz (the bank
// can do its job: 503 once its own file has failed, which a restart
// mends) and /readyz (it can take traffic now: its file works, and its
// central ledger answers and commits). docs/openapi.yaml documents every
// route.
func (b *Bank) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range b.routes() {
		mux.HandleFunc(rt.pattern, rt.handler)
	}
	return mux
}

// Routes lists the patterns Handler serves, such as "GET /admin/status",
// as http.ServeMux takes them, so that a document of the API can be held
// to the code.
func (b *Bank) Routes() []string {
	var out []string
	for _, rt := range b.routes() {
		out = append(out, rt.pattern)
	}
	return out
}

// route is one endpoint: its http.ServeMux pattern and its handler.
type route struct {
	pattern string
	handler http.HandlerFunc
}

func (b *Bank) routes() []route {
	return []route{
		{"GET " + protocol.Path, b.serveWallet},
		{"GET /healthz", b.healthz},
		{"GET /readyz", b.ready},
		{"GET /admin/status", b.admin(b.adminStatus)},
		{"GET /admin/tiers", b.admin(b.adminTiers)},
		{"GET /admin/customers", b.admin(b.adminCustomers)},
		{"POST /admin/customers", b.admin(b.adminOnboard)},
		{"GET /admin/customers/{id}", b.admin(b.adminCustomer)},
		{"POST /admin/customers/{id}/wallets", b.admin(b.adminAddWallet)},
		{"PUT /admin/customers/{id}/tier", b.admin(b.adminSetTier)},
		{"POST /admin/customers/{id}/deposit", b.admin(b.adminCreditDeposit)},
		{"POST /admin/float/issue", b.admin(b.adminFloat("issue"))},
		{"POST /admin/float/redeem", b.admin(b.adminFloat("redeem"))},
	}
}

// admin lets only the holder of the admin token through.
func (b *Bank) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(b.cfg.AdminToken)) != 1 {
			writeError(w, http.StatusUnauthorized, fail("unauthenticated", "the admin API needs the bank's admin token as a bearer token"))
			return
		}
		h(w, r)
	}
}

func (b *Bank) adminStatus(w http.ResponseWriter, r *http.Request) {
	s, err := b.Status(r.Context())
	reply(w, s, err)
}

func (b *Bank) adminTiers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, b.cfg.Tiers)
}

func (b *Bank) adminCustomers(w http.ResponseWriter, r *http.Request) {
	ids := b.Customers()
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	start := 0
	if after := r.URL.Query().Get("after"); after != "" {
		if start = slices.Index(ids, after) + 1; start == 0 {
			writeError(w, http.StatusBadRequest, fail(protocol.CodeBadCustomer, "after=%q is not a customer id", after))
			return
		}
	}
	out := []CustomerInfo{}
	for _, id := range ids[start:min(len(ids), start+limit)] {
		c, err := b.Customer(id)
		if err != nil {
			reply(w, nil, err)
			return
		}
		out = append(out, c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"customers": out})
}

type onboardRequest struct {
	Name       string   `json:"name"`
	PersonID   string   `json:"person_id"`
	Tier       string   `json:"tier"`
	Deposit    int64    `json:"deposit" unit:"yen"`
	PublicKeys [][]byte `json:"public_keys"`
}

func (b *Bank) adminOnboard(w http.ResponseWriter, r *http.Request) {
	var req onboardRequest
	if !readJSON(w, r, &req) {
		return
	}
	spec := CustomerSpec{Name: req.Name, PersonID: req.PersonID, Tier: req.Tier, Deposit: req.Deposit}
	for _, k := range req.PublicKeys {
		spec.PublicKeys = append(spec.PublicKeys, ed25519.PublicKey(k))
	}
	c, err := b.Onboard(r.Context(), spec)
	reply(w, c, err)
}

func (b *Bank) adminCustomer(w http.ResponseWriter, r *http.Request) {
	c, err := b.Customer(r.PathValue("id"))
	reply(w, c, err)
}

func (b *Bank) adminAddWallet(w http.ResponseWriter, r *http.Request) {
	var req struct {
		PublicKey []byte `json:"public_key"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	wi, err := b.AddWallet(r.Context(), r.PathValue("id"), req.PublicKey)
	reply(w, wi, err)
}

func (b *Bank) adminSetTier(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Tier string `json:"tier"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	c, err := b.SetTier(r.Context(), r.PathValue("id"), req.Tier)
	reply(w, c, err)
}

func (b *Bank) adminCreditDeposit(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RequestID string `json:"request_id"`
		Amount    int64  `json:"amount" unit:"yen"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	c, err := b.CreditDeposit(req.RequestID, r.PathValue("id"), req.Amount)
	reply(w, c, err)
}

// adminFloat issues or redeems float. A request id, when the operator
// gives one, makes a retry after a lost answer safe.
func (b *Bank) adminFloat(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			RequestID *string `json:"request_id"`
			Amount    int64   `json:"amount" unit:"yen"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		var s Status
		var err error
		if req.RequestID != nil {
			s, err = b.MoveFloat(r.Context(), kind, *req.RequestID, req.Amount)
		} else {
			s, err = b.moveFloat(r.Context(), kind, "", req.Amount)
		}
		reply(w, s, err)
	}
}

// readJSON reads a request body into v, or answers 400 bad_message with
// what is wrong with it in plain words.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := jsonbody.Decode(w, r, maxAdminBody, v); err != nil {
		writeError(w, http.StatusBadRequest, fail(protocol.CodeBadMessage, "%v", err))
		return false
	}
	return true
}

// maxAdminBody bounds an admin request's body.
const maxAdminBody = 1 << 20

// reply writes a result, or an error with a status that fits its code.
func reply(w http.ResponseWriter, v any, err error) {
	if err == nil {
		writeJSON(w, http.StatusOK, v)
		return
	}
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		pe = fail(protocol.CodeInternal, "%v", err)
	}
	status := http.StatusBadRequest
	switch pe.Code {
	case protocol.CodeUnavailable:
		status = http.StatusServiceUnavailable
	case protocol.CodeInternal:
		status = http.StatusInternalServerError
	}
	writeError(w, status, pe)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		fmt.Fprintln(w, err)
	}
}

func writeError(w http.ResponseWriter, status int, e *protocol.Error) {
	writeJSON(w, status, map[string]*protocol.Error{"error": e})
}

// ready says whether the bank can serve wallets: 503 with the reason
// while its file has failed, or its central ledger does not answer or
// cannot commit. It answers from what the bank knows already, at once.
func (b *Bank) ready(w http.ResponseWriter, _ *http.Request) {
	if err := b.Err(); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if err := b.readiness(); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

// healthz says whether the bank's process can do its job: 503 with the
// reason when it cannot.
func (b *Bank) healthz(w http.ResponseWriter, _ *http.Request) {
	if err := b.Healthy(); err != nil {
		http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

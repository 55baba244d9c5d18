package gateway

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/internal/jsonbody"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/walletapp"
)

// Handler serves the bank: the wallet websocket at protocol.Path, the
// operator's admin API under /admin/ (bearer token), /healthz (the bank
// can do its job: 503 once its own file has failed, which a restart
// mends) and /readyz (it can take traffic now: its file works, and its
// central ledger answers and commits). docs/openapi.yaml documents every
// route.
func (g *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range g.routes() {
		mux.HandleFunc(rt.pattern, rt.handler)
	}
	return mux
}

// Routes lists the patterns Handler serves, such as "GET /admin/status",
// as http.ServeMux takes them, so that a document of the API can be held
// to the code.
func (g *Server) Routes() []string {
	var out []string
	for _, rt := range g.routes() {
		out = append(out, rt.pattern)
	}
	return out
}

// route is one endpoint: its http.ServeMux pattern and its handler.
type route struct {
	pattern string
	handler http.HandlerFunc
}

func (g *Server) routes() []route {
	return []route{
		{"GET " + protocol.Path, g.serveWallet},
		{"GET " + walletapp.Path, g.walletApp},
		{"GET /healthz", g.healthz},
		{"GET /readyz", g.ready},
		{"GET /admin/status", g.admin(g.adminStatus)},
		{"GET /admin/tiers", g.admin(g.adminTiers)},
		{"GET /admin/customers", g.admin(g.adminCustomers)},
		{"GET /admin/app-wallets", g.admin(g.adminAppWallets)},
		{"POST /admin/customers", g.admin(g.adminOnboard)},
		{"GET /admin/customers/{id}", g.admin(g.adminCustomer)},
		{"POST /admin/customers/{id}/wallets", g.admin(g.adminAddWallet)},
		{"PUT /admin/customers/{id}/tier", g.admin(g.adminSetTier)},
		{"POST /admin/customers/{id}/deposit", g.admin(g.adminCreditDeposit)},
		{"POST /admin/float/issue", g.admin(g.adminFloat("issue"))},
		{"POST /admin/float/redeem", g.admin(g.adminFloat("redeem"))},
	}
}

// admin lets only the holder of the admin token through.
func (g *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(g.cfg.AdminToken)) != 1 {
			writeError(w, http.StatusUnauthorized, fail("unauthenticated", "the admin API needs the bank's admin token as a bearer token"))
			return
		}
		h(w, r)
	}
}

func (g *Server) adminStatus(w http.ResponseWriter, r *http.Request) {
	s, err := g.b.Status(r.Context())
	reply(w, s, err)
}

func (g *Server) adminTiers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, g.cfg.Tiers)
}

func (g *Server) adminCustomers(w http.ResponseWriter, r *http.Request) {
	ids := g.b.Customers()
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
	page := bankadmin.CustomerPage{Customers: []bankadmin.CustomerInfo{}}
	for _, id := range ids[start:min(len(ids), start+limit)] {
		c, err := g.b.Customer(id)
		if err != nil {
			reply(w, nil, err)
			return
		}
		page.Customers = append(page.Customers, c)
	}
	writeJSON(w, http.StatusOK, page)
}

func (g *Server) adminOnboard(w http.ResponseWriter, r *http.Request) {
	var spec bankadmin.CustomerSpec
	if !readJSON(w, r, &spec) {
		return
	}
	c, err := g.b.Onboard(r.Context(), spec)
	reply(w, c, err)
}

func (g *Server) adminCustomer(w http.ResponseWriter, r *http.Request) {
	c, err := g.b.Customer(r.PathValue("id"))
	reply(w, c, err)
}

func (g *Server) adminAddWallet(w http.ResponseWriter, r *http.Request) {
	var req bankadmin.WalletRequest
	if !readJSON(w, r, &req) {
		return
	}
	wi, err := g.b.AddWallet(r.Context(), r.PathValue("id"), req.PublicKey)
	reply(w, wi, err)
}

func (g *Server) adminSetTier(w http.ResponseWriter, r *http.Request) {
	var req bankadmin.TierRequest
	if !readJSON(w, r, &req) {
		return
	}
	c, err := g.b.SetTier(r.Context(), r.PathValue("id"), req.Tier)
	reply(w, c, err)
}

func (g *Server) adminCreditDeposit(w http.ResponseWriter, r *http.Request) {
	var req bankadmin.DepositCreditRequest
	if !readJSON(w, r, &req) {
		return
	}
	c, err := g.b.CreditDeposit(req.RequestID, r.PathValue("id"), req.Amount)
	reply(w, c, err)
}

// adminFloat issues or redeems float. A request id, when the operator
// gives one, makes a retry after a lost answer safe.
func (g *Server) adminFloat(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req bankadmin.FloatRequest
		if !readJSON(w, r, &req) {
			return
		}
		var s bankadmin.Status
		var err error
		switch {
		case req.RequestID != nil:
			s, err = g.b.MoveFloat(r.Context(), kind, *req.RequestID, req.Amount)
		case kind == "issue":
			s, err = g.b.IssueFloat(r.Context(), req.Amount)
		default:
			s, err = g.b.RedeemFloat(r.Context(), req.Amount)
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
// cannot commit.
func (g *Server) ready(w http.ResponseWriter, _ *http.Request) {
	if err := g.b.Ready(); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

// healthz says whether the bank's process can do its job: 503 with the
// reason when it cannot.
func (g *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	if err := g.b.Healthy(); err != nil {
		http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

// walletApp serves the wallet app for phones (package walletapp).
func (g *Server) walletApp(w http.ResponseWriter, r *http.Request) {
	walletapp.Handler().ServeHTTP(w, r)
}

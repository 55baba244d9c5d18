package bankadmin_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// An answer that is not the admin API's (a proxy's page, a body cut short
// or too large, JSON of another shape) is an error that names the call and
// the HTTP status on one short line, from every method; it is never taken
// for the bank's refusal nor for an answer.
func TestClient_AnswersThatAreNotTheAPI(t *testing.T) {
	html := "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body>" + strings.Repeat("<p>nginx</p>\n", 100) + "</body></html>"
	huge := `{"bank":"` + strings.Repeat("a", 9<<20) + `"}`
	for _, tc := range []struct {
		name   string
		status int
		ctype  string
		body   string
		want   []string // in the error besides the call
	}{
		{"an HTML page", http.StatusOK, "text/html", html, []string{"200 OK", "not the admin API's JSON", "<!DOCTYPE html>"}},
		{"a proxy's error page", http.StatusBadGateway, "text/html", html, []string{"502 Bad Gateway", "<!DOCTYPE html>"}},
		{"JSON cut short", http.StatusOK, "application/json", `{"bank": "bank-1", "fl`, []string{"200 OK", "not the admin API's JSON"}},
		{"a body over the bound", http.StatusOK, "application/json", huge, []string{"200 OK", "over 8388608 bytes"}},
		{"an error over the bound", http.StatusInternalServerError, "application/json", huge, []string{"500 Internal Server Error", "over 8388608 bytes"}},
		{"no body", http.StatusOK, "application/json", "", []string{"200 OK", "not the admin API's JSON", "(no body)"}},
		{"null", http.StatusOK, "application/json", "null", []string{"200 OK", "not the admin API's JSON"}},
		{"a string", http.StatusOK, "application/json", `"ok"`, []string{"200 OK", "not the admin API's JSON"}},
		{"an error without a code", http.StatusBadRequest, "application/json", `{"error": {"message": "no"}}`, []string{"400 Bad Request", `"message": "no"`}},
		{"an error as text", http.StatusBadRequest, "application/json", `{"error": "no"}`, []string{"400 Bad Request"}},
		{"plain text", http.StatusUnauthorized, "text/plain", "go away\n", []string{"401 Unauthorized", "go away"}},
		{"bytes that are not text", http.StatusServiceUnavailable, "application/octet-stream", "\x00\xff\xfe\x1b[31mred\r\n", []string{"503 Service Unavailable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			admin := bankadmin.New(srv.URL, "token", nil)
			for name, call := range everyRoute(admin) {
				err := call(context.Background())
				var pe *protocol.Error
				switch {
				case err == nil:
					t.Errorf("%s: no error", name)
					continue
				case errors.As(err, &pe):
					t.Errorf("%s: taken for the bank's refusal: %v", name, err)
				case !strings.HasPrefix(err.Error(), "bankadmin: GET "+srv.URL+"/admin/") && !strings.HasPrefix(err.Error(), "bankadmin: POST "+srv.URL+"/admin/") &&
					!strings.HasPrefix(err.Error(), "bankadmin: PUT "+srv.URL+"/admin/"):
					t.Errorf("%s: the error does not name the call: %v", name, err)
				case len(err.Error()) > 600 || strings.ContainsAny(err.Error(), "\n\r\x00\x1b"):
					t.Errorf("%s: the error is not one short line: %q", name, err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %v, want it to say %q", name, err, w)
					}
				}
			}
		})
	}
}

// The bank's refusal comes back with its code, message and retry hint,
// whatever its status.
func TestClient_RefusalKeepsTheBanksWords(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error": {"code": "unavailable", "message": "the central ledger does not answer", "retry_after_ms": 1500}}`)
	}))
	defer srv.Close()
	_, err := bankadmin.New(srv.URL, "token", nil).IssueFloat(context.Background(), "issue-1", 1000)
	var pe *protocol.Error
	if !errors.As(err, &pe) || *pe != (protocol.Error{Code: protocol.CodeUnavailable, Message: "the central ledger does not answer", RetryAfterMS: 1500}) {
		t.Fatalf("%#v", err)
	}
	if !errors.Is(err, &protocol.Error{Code: protocol.CodeUnavailable}) || pe.RetryAfter() != 1500*time.Millisecond {
		t.Errorf("%v: not matched by code, or no retry hint", err)
	}
}

// A redirect is not followed: the token goes only to the address given,
// and the error says where the bank pointed.
func TestClient_DoesNotFollowRedirects(t *testing.T) {
	var mu sync.Mutex
	var tokens []string
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tokens = append(tokens, r.Header.Get("Authorization"))
		mu.Unlock()
		io.WriteString(w, `{"bank": "bank-9"}`)
	}))
	defer elsewhere.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	for _, hc := range []*http.Client{nil, {Timeout: 5 * time.Second}} {
		st, err := bankadmin.New(srv.URL, "secret", hc).Status(context.Background())
		if err == nil || !strings.Contains(err.Error(), "307") || !strings.Contains(err.Error(), elsewhere.URL) {
			t.Errorf("a redirect: %+v %v", st, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(tokens) > 0 {
		t.Errorf("the redirect was followed, with %q", tokens)
	}
}

// A call ends when its context does, with the context's error.
func TestClient_ContextEnds(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := bankadmin.New(srv.URL, "token", nil).Status(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a call past its deadline: %v", err)
	}
}

// Each method sends the request docs/openapi.yaml describes: the method,
// the path, the token, and the body of its examples, leaving out what the
// caller left out.
func TestClient_SendsTheDocumentedRequests(t *testing.T) {
	type sent struct {
		method, path, query, auth, ctype, body string
	}
	var mu sync.Mutex
	var got sent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got = sent{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/admin/tiers":
			io.WriteString(w, `[]`)
		case r.URL.Path == "/admin/customers" && r.Method == http.MethodGet:
			io.WriteString(w, `{"customers": []}`)
		default:
			io.WriteString(w, `{}`)
		}
	}))
	defer srv.Close()
	admin := bankadmin.New(srv.URL+"/", " the-token\n", nil)
	key := func(b64 string) ed25519.PublicKey {
		k, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	phone, tablet := key("XU3RoZJKgfZ4YfCrfkmfNaxsS2wYaZDHWk4k806qR/w="), key("JhoQPnbXafkyd8zBWJbvVZ/Ozq13mVJvJ8Ocl2ahnLM=")
	ctx := context.Background()
	for _, tc := range []struct {
		call              func() error
		method, path, doc string // doc: the body, as the documents write it
		query             url.Values
	}{
		{func() error { _, err := admin.Status(ctx); return err }, "GET", "/admin/status", "", nil},
		{func() error { _, err := admin.Tiers(ctx); return err }, "GET", "/admin/tiers", "", nil},
		{func() error { _, err := admin.Customers(ctx, "", 0); return err }, "GET", "/admin/customers", "", nil},
		{func() error { _, err := admin.Customers(ctx, "c-1", 100); return err }, "GET", "/admin/customers", "", url.Values{"after": {"c-1"}, "limit": {"100"}}},
		{func() error { _, err := admin.Customers(ctx, "c 1&x=y", -1); return err }, "GET", "/admin/customers", "", url.Values{"after": {"c 1&x=y"}}},
		{func() error {
			_, err := admin.Onboard(ctx, bankadmin.CustomerSpec{Name: "Hanako Yamada", PersonID: "MN-1234-5678-9012", Deposit: 200000,
				PublicKeys: []ed25519.PublicKey{phone}})
			return err
		}, "POST", "/admin/customers", `{"name": "Hanako Yamada", "person_id": "MN-1234-5678-9012", "deposit": 200000,
			"public_keys": ["XU3RoZJKgfZ4YfCrfkmfNaxsS2wYaZDHWk4k806qR/w="]}`, nil},
		{func() error {
			_, err := admin.Onboard(ctx, bankadmin.CustomerSpec{Name: "Taro Sato", PersonID: "MN-9876-5432-1098", Tier: "gold",
				PublicKeys: []ed25519.PublicKey{tablet}})
			return err
		}, "POST", "/admin/customers", `{"name": "Taro Sato", "person_id": "MN-9876-5432-1098", "tier": "gold",
			"public_keys": ["JhoQPnbXafkyd8zBWJbvVZ/Ozq13mVJvJ8Ocl2ahnLM="]}`, nil},
		{func() error { _, err := admin.Customer(ctx, "c-1"); return err }, "GET", "/admin/customers/c-1", "", nil},
		{func() error { _, err := admin.Customer(ctx, "c-1/tier?x"); return err }, "GET", "/admin/customers/c-1%2Ftier%3Fx", "", nil},
		{func() error { _, err := admin.AddWallet(ctx, "c-1", tablet); return err }, "POST", "/admin/customers/c-1/wallets",
			`{"public_key": "JhoQPnbXafkyd8zBWJbvVZ/Ozq13mVJvJ8Ocl2ahnLM="}`, nil},
		{func() error { _, err := admin.SetTier(ctx, "c-1", "standard"); return err }, "PUT", "/admin/customers/c-1/tier",
			`{"tier": "standard"}`, nil},
		{func() error { _, err := admin.CreditDeposit(ctx, "payroll-2026-04-25", "c-1", 250000); return err }, "POST", "/admin/customers/c-1/deposit",
			`{"request_id": "payroll-2026-04-25", "amount": 250000}`, nil},
		{func() error { _, err := admin.IssueFloat(ctx, "", 5000000); return err }, "POST", "/admin/float/issue",
			`{"amount": 5000000}`, nil},
		{func() error { _, err := admin.RedeemFloat(ctx, "redeem-2026-04-25", 1000000); return err }, "POST", "/admin/float/redeem",
			`{"request_id": "redeem-2026-04-25", "amount": 1000000}`, nil},
	} {
		mu.Lock()
		got = sent{}
		mu.Unlock()
		if err := tc.call(); err != nil {
			t.Errorf("%s %s: %v", tc.method, tc.path, err)
			continue
		}
		mu.Lock()
		got := got
		mu.Unlock()
		q, _ := url.ParseQuery(got.query)
		if got.method != tc.method || got.path != tc.path || (len(q) > 0 || len(tc.query) > 0) && !reflect.DeepEqual(q, tc.query) {
			t.Errorf("sent %s %s?%s, want %s %s?%s", got.method, got.path, got.query, tc.method, tc.path, tc.query.Encode())
		}
		if got.auth != "Bearer the-token" {
			t.Errorf("%s %s: Authorization %q", tc.method, tc.path, got.auth)
		}
		if tc.doc == "" {
			if got.body != "" || got.ctype != "" {
				t.Errorf("%s %s: sent a body %q (%s)", tc.method, tc.path, got.body, got.ctype)
			}
			continue
		}
		var want, body any
		if err := json.Unmarshal([]byte(tc.doc), &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(got.body), &body); err != nil || !reflect.DeepEqual(body, want) || got.ctype != "application/json" {
			t.Errorf("%s %s: sent %s (%s), want %s", tc.method, tc.path, got.body, got.ctype, tc.doc)
		}
	}
}

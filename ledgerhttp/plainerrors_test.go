package ledgerhttp

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// goWords are what an answer to a person must never say: the names of
// Go's types and functions and of encoding/json's machinery.
var goWords = regexp.MustCompile(`\bGo\b|struct|(?i:unmarshal)|Time\.|int64|int32|uint|float64|\[\]|uint8|strconv|ParseUint`)

// TestServer_ErrorsInPlainWords sends every endpoint that reads a body or
// a query the wrong types, and checks the answer names the field and what
// it must be, without Go's types.
func TestServer_ErrorsInPlainWords(t *testing.T) {
	ctx := context.Background()
	l, err := ledger.Open(t.TempDir(), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	pub, key, _ := ed25519.GenerateKey(nil)
	if _, err := l.OpenAccount(ctx, "open", ledger.AccountSpec{ID: "bank-a", Kind: ledger.KindIntermediary}); err != nil {
		t.Fatal(err)
	}
	st, err := settlement.Open(ctx, l, settlement.Config{Policy: offline.DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(NewServer(l, map[ledger.AccountID]ed25519.PublicKey{"bank-a": pub}, ServerOptions{Settler: st}))
	t.Cleanup(srv.Close)
	token, err := NewClient(srv.URL, "bank-a", key, srv.Client()).session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, path, body, want string }{
		{"POST", "/v1/session", `{"intermediary":"bank-a","challenge":"AAAA","signature":7}`, "signature must be base64 text, not a number"},
		{"POST", "/v1/session", `{"intermediary":"bank-a","challange":"AAAA"}`, `the body has a field "challange" that this request does not take (it takes intermediary, challenge, signature)`},
		{"POST", "/v1/ops", `{"ops":[{"type":"issue","op_id":"f-1","amount":"1000000"}]}`, "ops.amount must be a whole number of yen, not a string"},
		{"POST", "/v1/ops", `{"ops":[{"type":"limits","op_id":"l-1","account_id":"w","limits":{"holding":"100000"}}]}`, "ops.limits.holding must be a whole number of yen, not a string"},
		{"POST", "/v1/ops", `{"ops":[{"type":"transfer","op_id":"t-1","transfers":[{"from":"a","to":"b","amount":1.5}]}]}`, "ops.transfers.amount must be a whole number of yen, not 1.5"},
		{"POST", "/v1/ops", `{"ops":{"type":"issue"}}`, "ops must be a list, not an object"},
		{"POST", "/v1/ops", `[]`, "the body must be a JSON object, not a list"},
		{"POST", "/v1/messages", `{"to":"bank-a","body":"hello world"}`, "a value that must be base64 (standard alphabet, padded) is not: bad character at position 5"},
		{"POST", "/v1/offline/certify", `{"key":12}`, "key must be base64 text, not a number"},
		{"POST", "/v1/offline/devices", `{"cert":"AAAA","wallet":5}`, "wallet must be text, not a number"},
		{"POST", "/v1/offline/reconcile", `{"device":"00","counter":-1}`, "counter must be a whole number from 0 to 18446744073709551615, not -1"},
		{"POST", "/v1/offline/reconcile", `{"device":"00","received_total":"3"}`, "received_total must be a whole number, not a string"},
		{"GET", "/v1/accounts/bank-a/history?cursor=yesterday&limit=-1", "", `cursor must be a whole number, got "yesterday"; limit must be a whole number, got "-1"`},
		{"GET", "/v1/feed?from=x&wait=forever", "", `from must be a whole number, got "x"; wait must be a duration from 0s to 30s, such as 20s, got "forever"`},
		{"GET", "/v1/messages?max=many", "", `max must be a whole number, got "many"`},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e errorResponse
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || e.Error.Code != "bad_request" || e.Error.Message != tc.want {
			t.Errorf("%s %s %s:\n got %d %+v\nwant 400 bad_request %q", tc.method, tc.path, tc.body, resp.StatusCode, e.Error, tc.want)
		}
		if m := goWords.FindString(e.Error.Message); m != "" {
			t.Errorf("%s %s: %q names Go's machinery (%q)", tc.method, tc.path, e.Error.Message, m)
		}
	}
}

package intermediary_test

import (
	"crypto/ed25519"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// goWordsInAdmin are what an answer to a person must never say: the names of
// Go's types and of encoding/json's machinery.
var goWordsInAdmin = regexp.MustCompile(`\bGo\b|struct|(?i:unmarshal)|Time\.|int64|int32|uint|float64|\[\]|uint8|strconv`)

// Every admin endpoint that reads a body answers a malformed one with
// bad_message and a sentence free of Go's types. The endpoints come from
// the bank's own route table, so one added later is checked too.
func TestAdmin_MalformedBodiesAnsweredInPlainWords(t *testing.T) {
	n := newTestNet(t, 1, nil)
	b := n.banks["bank-1"]
	hanako := n.onboardCustomer("bank-1", "Hanako Yamada", "MN-HANAKO")
	bodies := []string{``, `{`, `[1]`, `"Hanako"`, `{"zz":1}`, `{"name":5}`, `{"amount":"5000"}`, `{"tier":true}`,
		`{"public_key":12}`, `{"public_keys":["%%%"]}`, `{"deposit":1.5}`, `{"request_id":7}`}
	checked := 0
	for _, route := range b.gw.Routes() {
		method, path, _ := strings.Cut(route, " ")
		if method != "POST" && method != "PUT" || !strings.HasPrefix(path, "/admin/") {
			continue
		}
		checked++
		url := b.http + strings.ReplaceAll(path, "{id}", hanako.ID)
		for _, body := range bodies {
			var e struct{ Error protocol.Error }
			status := adminCall(t, method, url, body, &e)
			if status == http.StatusOK {
				continue // a body that happens to suit the endpoint
			}
			if m := goWordsInAdmin.FindString(e.Error.Message); m != "" || e.Error.Message == "" {
				t.Errorf("%s %s: %d %+v names Go's machinery (%q)", route, body, status, e.Error, m)
			}
		}
	}
	if checked < 6 {
		t.Errorf("checked %d endpoints that take a body, want at least 6", checked)
	}
}

// Each endpoint's own fields are named, with what they must be.
func TestAdmin_WrongTypesNameTheField(t *testing.T) {
	n := newTestNet(t, 1, nil)
	b := n.banks["bank-1"]
	hanako := n.onboardCustomer("bank-1", "Hanako Yamada", "MN-HANAKO")
	c := b.http + "/admin/customers/" + hanako.ID
	for _, tc := range []struct{ method, url, body, want string }{
		{"POST", b.http + "/admin/customers", `{"name":"Hanako","person_id":"MN-1","deposit":"200000","public_keys":[]}`, "deposit must be a whole number of yen, not a string"},
		{"POST", b.http + "/admin/customers", `{"name":"Hanako","public_keys":"AAAA"}`, "public_keys must be a list of base64 texts, not a string"},
		{"POST", b.http + "/admin/customers", `{"nmae":"Hanako"}`, `the body has a field "nmae" that this request does not take (it takes name, person_id, tier, deposit, public_keys)`},
		{"POST", c + "/wallets", `{"public_key":["AAAA"]}`, "public_key must be base64 text (a JSON string)"},
		{"PUT", c + "/tier", `{"tier":2}`, "tier must be text, not a number"},
		{"POST", b.http + "/admin/float/issue", `{"amount":1e3}`, "amount must be a whole number of yen from -9223372036854775808 to 9223372036854775807, not 1e3"},
		{"POST", c + "/deposit", `{"request_id":"cash-1","amount":"5000"}`, "amount must be a whole number of yen, not a string"},
		{"POST", c + "/deposit", `{"id":"cash-1","amount":5000}`, `the body has a field "id" that this request does not take (it takes request_id, amount)`},
		{"POST", b.http + "/admin/float/issue", `{"amount":"1000000"}`, "amount must be a whole number of yen, not a string"},
		{"POST", b.http + "/admin/float/redeem", `{"amount":0.5}`, "amount must be a whole number of yen, not 0.5"},
	} {
		var e struct{ Error protocol.Error }
		if status := adminCall(t, tc.method, tc.url, tc.body, &e); status != 400 || e.Error.Code != protocol.CodeBadMessage || e.Error.Message != tc.want {
			t.Errorf("%s %s %s:\n got %d %+v\nwant 400 bad_message %q", tc.method, tc.url, tc.body, status, e.Error, tc.want)
		}
	}
}

// onboardCustomer opens a customer with a fresh wallet key.
func (n *testNet) onboardCustomer(bank, name, personID string) bankadmin.CustomerInfo {
	n.t.Helper()
	c, err := n.banks[bank].Onboard(n.ctx, bankadmin.CustomerSpec{Name: name, PersonID: personID,
		PublicKeys: []ed25519.PublicKey{newKey(n.t).Public().(ed25519.PublicKey)}})
	if err != nil {
		n.t.Fatalf("onboard %s: %v", name, err)
	}
	return c
}

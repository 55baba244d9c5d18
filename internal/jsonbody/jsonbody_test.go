package jsonbody_test

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/jsonbody"
)

type customer struct {
	Name       string   `json:"name"`
	Deposit    int64    `json:"deposit" unit:"yen"`
	PublicKeys [][]byte `json:"public_keys"`
	Verified   bool     `json:"verified"`
}

type limits struct {
	Holding int64 `json:"holding" unit:"yen"`
}

type op struct {
	Type    string    `json:"type"`
	Amount  int64     `json:"amount,omitempty" unit:"yen"`
	Limits  *limits   `json:"limits,omitempty"`
	Counter uint64    `json:"counter"`
	Total   *uint64   `json:"total,omitempty"`
	Key     []byte    `json:"key"`
	At      time.Time `json:"at"`
	Count   uint32    `json:"count"`
}

type ops struct {
	Ops []op `json:"ops"`
}

// goWords are what a message must never say: the names of Go's types and
// of encoding/json's machinery mean nothing to the people who read them.
var goWords = regexp.MustCompile(`\bGo\b|struct|(?i:unmarshal)|Time\.|int64|int32|uint|float64|\[\]|uint8|main\.|jsonbody`)

func decode(t *testing.T, body string, v any) *jsonbody.Error {
	t.Helper()
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	err := jsonbody.Decode(httptest.NewRecorder(), r, 256, v)
	if err == nil {
		return nil
	}
	je, ok := err.(*jsonbody.Error)
	if !ok {
		t.Fatalf("Decode(%s) = %T %v, want a *jsonbody.Error", body, err, err)
	}
	return je
}

func TestDecode_SaysWhatIsWrongInPlainWords(t *testing.T) {
	for _, tc := range []struct {
		body string
		v    any
		want string
	}{
		{`{"deposit":"200000"}`, &customer{}, "deposit must be a whole number of yen, not a string"},
		{`{"deposit":1.5}`, &customer{}, "deposit must be a whole number of yen, not 1.5"},
		{`{"deposit":1e30}`, &customer{}, "deposit must be a whole number of yen from -9223372036854775808 to 9223372036854775807, not 1e30"},
		{`{"name":7}`, &customer{}, "name must be text, not a number"},
		{`{"verified":"yes"}`, &customer{}, "verified must be true or false, not a string"},
		{`{"public_keys":[7]}`, &customer{}, "public_keys must be base64 text, not a number"},
		{`{"public_keys":[["AAAA"]]}`, &customer{}, "public_keys must be a list of base64 texts (JSON strings)"},
		{`{"public_keys":"AAAA"}`, &customer{}, "public_keys must be a list of base64 texts, not a string"},
		{`{"ops":[{"key":["AAAA"]}]}`, &ops{}, "ops.key must be base64 text (a JSON string)"},
		{`{"public_keys":["!!"]}`, &customer{}, "a value that must be base64 (standard alphabet, padded) is not: bad character at position 0"},
		{`{"nmae":"Hanako"}`, &customer{}, `the body has a field "nmae" that this request does not take (it takes name, deposit, public_keys, verified)`},
		{`[]`, &customer{}, "the body must be a JSON object, not a list"},
		{`"Hanako"`, &customer{}, "the body must be a JSON object, not a string"},
		{``, &customer{}, "the body is empty; it must be a JSON object"},
		{`{"name":`, &customer{}, "the body ends before its JSON does"},
		{`{"name":"Hanako",}`, &customer{}, "the body is not valid JSON: invalid character '}' looking for beginning of object key string (at byte 18)"},
		{`{"name":"` + strings.Repeat("x", 300) + `"}`, &customer{}, "the body is over 256 bytes"},
		{`{"ops":[{"amount":"5"}]}`, &ops{}, "ops.amount must be a whole number of yen, not a string"},
		{`{"ops":[{"limits":{"holding":true}}]}`, &ops{}, "ops.limits.holding must be a whole number of yen, not true or false"},
		{`{"ops":[{"counter":-1}]}`, &ops{}, "ops.counter must be a whole number from 0 to 18446744073709551615, not -1"},
		{`{"ops":[{"total":-1}]}`, &ops{}, "ops.total must be a whole number from 0 to 18446744073709551615, not -1"},
		{`{"ops":[{"count":4294967296}]}`, &ops{}, "ops.count must be a whole number from 0 to 4294967295, not 4294967296"},
		{`{"ops":[{"at":"yesterday"}]}`, &ops{}, `a time must be written as in RFC 3339, such as 2026-04-01T09:00:00Z, not "yesterday"`},
		{`{"ops":[{"at":5}]}`, &ops{}, "a time must be a string written as in RFC 3339, such as 2026-04-01T09:00:00Z"},
		{`{"ops":{}}`, &ops{}, "ops must be a list, not an object"},
		{`{"ops":[{"typo":1}]}`, &ops{}, `the body has a field "typo" that this request does not take`},
	} {
		t.Run(tc.body, func(t *testing.T) {
			err := decode(t, tc.body, tc.v)
			if err == nil {
				t.Fatalf("Decode accepted %s", tc.body)
			}
			if err.Message != tc.want {
				t.Errorf("message\n got %s\nwant %s", err.Message, tc.want)
			}
			if m := goWords.FindString(err.Message); m != "" {
				t.Errorf("message %q names Go's machinery (%q)", err.Message, m)
			}
			if tooLarge := strings.Contains(tc.want, "over 256 bytes"); err.TooLarge != tooLarge {
				t.Errorf("TooLarge = %v, want %v", err.TooLarge, tooLarge)
			}
		})
	}
}

func TestDecode_TakesAGoodBody(t *testing.T) {
	var c customer
	if err := decode(t, `{"name":"Hanako","deposit":200000,"public_keys":["AAEC"]}`, &c); err != nil {
		t.Fatal(err)
	}
	if c.Name != "Hanako" || c.Deposit != 200_000 || len(c.PublicKeys) != 1 || len(c.PublicKeys[0]) != 3 {
		t.Errorf("decoded %+v", c)
	}
}

// FuzzDecode feeds any body to both shapes: whatever the mistake, the
// message names no Go type.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"deposit":"x"}`, `{"ops":[{"limits":{"holding":"1"}}]}`, `[1]`, `{"ops":[{"total":-2}]}`, `{"public_keys":[{}]}`, `null`, `{"x":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, v := range []any{&customer{}, &ops{}} {
			if err := decode(t, body, v); err != nil {
				if m := goWords.FindString(err.Message); m != "" {
					t.Errorf("body %q: message %q names Go's machinery (%q)", body, err.Message, m)
				}
			}
		}
	})
}

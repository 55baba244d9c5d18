package protocol

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func errCode(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	if err != nil {
		return "not a protocol error: " + err.Error()
	}
	return ""
}

func TestReadEnvelope_RefusesWhatIsNotOneEnvelope(t *testing.T) {
	for _, c := range []struct {
		msg, code, id string
	}{
		{`{"v":1,"type":"balance","id":"a"}`, "", "a"},
		{` {"v":1,"type":"balance","id":"a","body":null} `, "", "a"},
		{`not json`, CodeBadMessage, ""},
		{``, CodeBadMessage, ""},
		{`null`, CodeBadMessage, ""},
		{`"v"`, CodeBadMessage, ""},
		{`[]`, CodeBadMessage, ""},
		{`{"v":1,"type":"balance","id":"a"}x`, CodeBadMessage, ""},
		{`{"v":1,"type":"balance","id":"a","id":"b"}`, CodeBadMessage, ""},
		{`{"v":1,"type":"balance","id":"a"`, CodeBadMessage, ""},
		{`{"v":2,"type":"balance","id":"a"}`, CodeUnsupportedVersion, "a"},
		{`{"v":-1,"type":"balance","id":"a"}`, CodeUnsupportedVersion, "a"},
		{`{"v":1e0,"type":"balance","id":"a"}`, CodeUnsupportedVersion, "a"},
		{`{"v":null,"type":"balance","id":"a"}`, CodeUnsupportedVersion, "a"},
		{`{"v":true,"type":"balance","id":7}`, CodeUnsupportedVersion, ""},
		{`{"v":1,"type":"balance","id":null}`, CodeBadRequestID, ""},
		{`{"v":1,"type":"balance","id":["a"]}`, CodeBadRequestID, ""},
		{`{"v":1,"type":"balance","id":"` + strings.Repeat("a", 33) + `"}`, CodeBadRequestID, strings.Repeat("a", 33)},
		{`{"v":1,"type":null,"id":"a"}`, CodeUnknownType, "a"},
		{`{"v":1,"id":"a"}`, CodeUnknownType, "a"},
		{`{"v":1,"Type":"balance","id":"a"}`, CodeUnknownType, "a"},
	} {
		env, err := ReadEnvelope([]byte(c.msg))
		if code := errCode(errOrNil(err)); code != c.code || env.ID != c.id {
			t.Errorf("ReadEnvelope(%s) = id %q, %v; want id %q, code %q", c.msg, env.ID, err, c.id, c.code)
		}
	}
}

// errOrNil keeps a nil *Error from becoming a non-nil error.
func errOrNil(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

func TestReadEnvelope_BodyNullIsNoBody(t *testing.T) {
	env, err := ReadEnvelope([]byte(`{"v":1,"type":"pay","id":"a","body":null}`))
	if err != nil || env.Body != nil {
		t.Fatalf("body null: %v, body %q", err, env.Body)
	}
	if err := ReadBody(env.Body, new(Pay)); errCode(err) != CodeBadMessage {
		t.Errorf("a pay without a body: %v", err)
	}
}

func TestReadBody_RequiredOptionalAndNull(t *testing.T) {
	var rp RequestPayment
	err := ReadBody(json.RawMessage(`{"payer":"p","amount":5,"memo":null,"expires_in":null,"signature":""}`), &rp)
	if err != nil || rp.Memo != "" || rp.ExpiresIn != 0 || rp.Signature == nil {
		t.Errorf("optional fields null: %+v, %v", rp, err)
	}
	for _, body := range []string{
		`{"amount":5,"signature":""}`,
		`{"payer":null,"amount":5,"signature":""}`,
		`{"payer":"p","amount":5}`,
	} {
		if err := ReadBody(json.RawMessage(body), new(RequestPayment)); errCode(err) != CodeBadMessage || !strings.Contains(err.Error(), "missing") {
			t.Errorf("%s: %v, want a missing field", body, err)
		}
	}
	var s Settings
	if err := ReadBody(json.RawMessage(`{"waterfall":false,"auto_charge":false,"signature":""}`), &s); err != nil {
		t.Errorf("false is a value: %v", err)
	}
	var ps PurseSync
	err = ReadBody(json.RawMessage(`{"serial":"s","counter":0,"received_before":0,"received_total":null,"sent":null}`), &ps)
	if err != nil || ps.ReceivedTotal != nil || ps.Sent != nil || ps.Received != nil {
		t.Errorf("purse sync with optional fields null or left out: %+v, %v", ps, err)
	}
	if err := ReadBody(json.RawMessage(`{"serial":"s","counter":0,"received_before":0,"received_total":0}`), &ps); err != nil || ps.ReceivedTotal == nil {
		t.Errorf("received_total 0 is a value: %+v, %v", ps, err)
	}
}

// The first failing field in the order of declaration decides, whatever
// order the members come in; names nobody declared come first of all.
func TestReadBody_OrderIsTheTables(t *testing.T) {
	for _, c := range []struct{ body, code, names string }{
		{`{"amount":1.5,"to":7,"signature":"!"}`, CodeBadMessage, "to "},
		{`{"signature":"!","amount":1.5,"to":"x"}`, CodeInvalidAmount, "amount"},
		{`{"to":"x","amount":1,"signature":"!"}`, CodeBadMessage, "signature"},
		{`{"amount":1.5,"x":1}`, CodeBadMessage, `"x"`},
		{`{"x":1,"amount":1.5}`, CodeBadMessage, `"x"`},
		{`{"to":"x","to":"y","amount":1.5}`, CodeBadMessage, `"to" appears twice`},
	} {
		err := ReadBody(json.RawMessage(c.body), new(Pay))
		if errCode(err) != c.code || !strings.Contains(err.Error(), c.names) {
			t.Errorf("%s: %v, want %s naming %s", c.body, err, c.code, c.names)
		}
	}
}

func TestReadBody_Numbers(t *testing.T) {
	for _, c := range []struct{ body, code string }{
		{`{"to":"x","amount":9223372036854775807,"signature":""}`, ""},
		{`{"to":"x","amount":-9223372036854775808,"signature":""}`, ""},
		{`{"to":"x","amount":9223372036854775808,"signature":""}`, CodeAmountOverflow},
		{`{"to":"x","amount":1e2,"signature":""}`, CodeInvalidAmount},
		{`{"to":"x","amount":1E2,"signature":""}`, CodeInvalidAmount},
		{`{"to":"x","amount":100.0,"signature":""}`, CodeInvalidAmount},
		{`{"to":"x","amount":"100","signature":""}`, CodeBadMessage},
		{`{"to":"x","amount":true,"signature":""}`, CodeBadMessage},
	} {
		if err := ReadBody(json.RawMessage(c.body), new(Pay)); errCode(err) != c.code {
			t.Errorf("pay %s: %v, want %q", c.body, err, c.code)
		}
	}
	for _, c := range []struct{ body, code string }{
		{`{"cursor":18446744073709551615,"limit":-9223372036854775808}`, ""},
		{`{"cursor":18446744073709551616}`, CodeBadMessage},
		{`{"cursor":-1}`, CodeBadMessage},
		{`{"limit":9223372036854775808}`, CodeBadMessage},
		{`{"limit":2.0}`, CodeBadMessage},
		{`{"limit":"2"}`, CodeBadMessage},
		{`{}`, ""},
	} {
		if err := ReadBody(json.RawMessage(c.body), new(HistoryQuery)); errCode(err) != c.code {
			t.Errorf("history %s: %v, want %q", c.body, err, c.code)
		}
	}
}

func TestDecodeBase64_OnlyTheCanonicalForm(t *testing.T) {
	sig := base64.StdEncoding.EncodeToString(make([]byte, 64))
	for s, ok := range map[string]bool{
		"": true, "AA==": true, "AAA=": true, "AAAA": true, sig: true, "+/+/": true,
		"AB==": false, "AAB=": false, "AA": false, "AA=": false, "-_-_": false, "AA\n==": false,
		"AAAA\r\nAAAA": false, " AAAA": false, "AAAA ": false, "AA==AA==": false,
		sig[:44] + "\n" + sig[44:]: false, strings.TrimRight(sig, "="): false,
	} {
		if _, got := DecodeBase64(s); got != ok {
			t.Errorf("DecodeBase64(%q) accepted = %v, want %v", s, got, ok)
		}
	}
}

func TestParseTime_RFC3339AsTheDocumentSays(t *testing.T) {
	want := time.Date(2025, 4, 1, 0, 30, 0, 0, time.UTC)
	for s, ok := range map[string]bool{
		"2025-04-01T00:30:00Z": true, "2025-04-01t00:30:00z": true, "2025-04-01t00:30:00Z": true,
		"2025-04-01T09:30:00+09:00": true, "2025-03-31T23:30:00-01:00": true, "2025-04-01T00:30:00-00:00": true,
		"2025-04-01T00:30:00.000000000Z":  true,
		"2025-04-01T00:30:00.0000000000Z": false, "2025-04-01T00:30:00,0Z": false, "2025-04-01 00:30:00Z": false,
		"2025-04-01T00:30:00+0900": false, "2025-04-01T00:30:00+24:00": false, "2025-04-01T00:30:00+09:60": false,
		"2025-04-01T00:30:60Z": false, "2025-04-01T24:00:00Z": false, "2025-02-30T00:30:00Z": false,
		"2025-04-01T00:30:00": false, "2025-04-01T00:30:00.Z": false, "2025-4-01T00:30:00Z": false,
		"2025-04-01T00:30:00ZZ": false, "": false,
	} {
		got, parsed := ParseTime(s)
		if parsed != ok || ok && !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want accepted = %v", s, got, parsed, ok)
		}
	}
}

// FuzzReadEnvelope: whatever arrives, reading it answers with an envelope
// or an error with a code, and an error never names a Go type.
func FuzzReadEnvelope(f *testing.F) {
	for _, s := range []string{`{"v":1,"type":"pay","id":"a","body":{}}`, `null`, `{"v":"1"}`, `{"id":7}`, `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := ReadEnvelope(data)
		if err != nil {
			if Codes[err.Code] == "" || goWords(err.Message) != "" {
				t.Fatalf("ReadEnvelope(%q) = %+v", data, err)
			}
			return
		}
		if env.V != Version || !ValidRequestID(env.ID) {
			t.Fatalf("ReadEnvelope(%q) accepted %+v", data, env)
		}
	})
}

// FuzzReadBody reads arbitrary bodies as a schedule and as a purse sync,
// which between them have every kind of field.
func FuzzReadBody(f *testing.F) {
	for _, s := range []string{`{"to":"x","amount":5,"at":"2025-04-01t00:30:00z","signature":"AA=="}`,
		`{"serial":"s","counter":1,"received_before":0,"sent":["AA=="],"received":null}`, `{"amount":1e400}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range []any{new(Schedule), new(PurseSync)} {
			err := ReadBody(data, m)
			var pe *Error
			if err != nil && (!errors.As(err, &pe) || Codes[pe.Code] == "" || goWords(pe.Message) != "") {
				t.Fatalf("ReadBody(%q) = %v", data, err)
			}
		}
	})
}

// goWords returns a word of Go's that a message meant for people shows,
// or "".
func goWords(msg string) string {
	for _, w := range []string{"Go ", "struct field", "of type ", "int64", "uint64", "int32", "[]uint8", "[]byte", "unmarshal", "time.Time", "json:", "reflect", "encoding/", "2006-01-02"} {
		if strings.Contains(msg, w) {
			return w
		}
	}
	return ""
}

// FuzzMembers holds the fast object splitter to encoding/json: for any
// object it accepts, the names and values are the ones encoding/json
// reads, and it refuses exactly the objects that name a field twice.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":[{"c":"}"}],"d":"\"\\"}`, ` { "\u0061" : null } `, `{"a":1,"a":2}`, `{}`, `[{}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want map[string]json.RawMessage
		werr := json.Unmarshal(data, &want)
		ms, err := members(data, nil)
		if err != nil {
			if werr == nil && !strings.Contains(err.Error(), "appears twice") && !errors.Is(err, errNotObject) {
				t.Fatalf("members(%q) = %v; encoding/json reads it", data, err)
			}
			return
		}
		if werr != nil || len(ms) != len(want) {
			t.Fatalf("members(%q) = %d members; encoding/json: %d, %v", data, len(ms), len(want), werr)
		}
		for _, m := range ms {
			var a, b any
			if json.Unmarshal(m.val, &a) != nil || json.Unmarshal(want[m.key], &b) != nil || !reflect.DeepEqual(a, b) {
				t.Fatalf("members(%q): %q = %s, encoding/json reads %s", data, m.key, m.val, want[m.key])
			}
		}
	})
}

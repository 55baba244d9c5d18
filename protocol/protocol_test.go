package protocol

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSign_VerifiesAndBindsEveryField(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	wallet := WalletAddress(pub, "bank-1")
	msgs := []Signed{
		&Pay{To: "w-0123456789abcdef0123@bank-2", Amount: 1500},
		&RequestPayment{Payer: "w-0123456789abcdef0123@bank-2", Amount: 700, Memo: "coffee", ExpiresIn: 60},
		&Approve{Ref: "bank-2.4", Merchant: "w-0123456789abcdef0123@bank-2", Amount: 700},
		&Decline{Ref: "bank-2.4"},
		&Withdraw{Amount: 10},
		&Deposit{Amount: 10},
		&Schedule{To: "w-0123456789abcdef0123@bank-2", Amount: 5, At: time.Unix(1e9, 0), Every: "24h", Times: 3},
		&CancelSchedule{Ref: "sc-1"},
		&Settings{Waterfall: true},
	}
	for _, m := range msgs {
		Sign(key, "t", wallet, "req-1", m)
		if !Verify(pub, "t", wallet, "req-1", m) {
			t.Errorf("%T: own signature does not verify", m)
		}
		if Verify(pub, "t", wallet, "req-2", m) || Verify(pub, "u", wallet, "req-1", m) ||
			Verify(pub, "t", WalletAddress(pub, "bank-9"), "req-1", m) {
			t.Errorf("%T: signature not bound to request id, type and wallet", m)
		}
	}
	// Every field but the signature is covered: changing any one breaks it.
	for _, m := range msgs {
		Sign(key, "t", wallet, "req-1", m)
		v := reflect.ValueOf(m).Elem()
		for i := range v.NumField() {
			name := v.Type().Field(i).Name
			if name == "Signature" {
				continue
			}
			f := v.Field(i)
			old := reflect.ValueOf(f.Interface())
			switch f.Kind() {
			case reflect.String:
				f.SetString(f.String() + "x")
			case reflect.Int, reflect.Int64:
				f.SetInt(f.Int() + 1)
			case reflect.Bool:
				f.SetBool(!f.Bool())
			case reflect.Struct: // time.Time
				f.Set(reflect.ValueOf(f.Interface().(time.Time).Add(time.Second)))
			default:
				t.Fatalf("%T.%s: no way to change a %s", m, name, f.Kind())
			}
			if Verify(pub, "t", wallet, "req-1", m) {
				t.Errorf("%T: changing %s keeps the signature valid", m, name)
			}
			f.Set(old)
		}
	}
}

func TestWalletAddress_RoundTrips(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	addr := WalletAddress(pub, "bank-1")
	keyID, bank, ok := ParseWalletAddress(addr)
	if !ok || keyID != WalletKeyID(pub) || bank != "bank-1" {
		t.Fatalf("ParseWalletAddress(%q) = %q, %q, %v", addr, keyID, bank, ok)
	}
	for _, bad := range []string{"", "bank-1", "w-0123@bank-1", "w-0123456789abcdef0123", "w-0123456789ABCDEF0123@bank-1",
		"w-0123456789abcdef0123@", "w-0123456789abcdef0123@bank 1", "x-0123456789abcdef0123@bank-1"} {
		if _, _, ok := ParseWalletAddress(bad); ok {
			t.Errorf("ParseWalletAddress(%q) accepted", bad)
		}
	}
}

func TestValidRequestIDAndText(t *testing.T) {
	for id, want := range map[string]bool{"a": true, "pay-1.x_2": true, "": false, strings.Repeat("a", 33): false,
		"a:b": false, "a@b": false, "a b": false, "日本": false} {
		if ValidRequestID(id) != want {
			t.Errorf("ValidRequestID(%q) = %v", id, !want)
		}
	}
	if !ValidText("カフェ 2杯", 140) || ValidText("a\nb", 140) || ValidText(strings.Repeat("あ", 141), 140) {
		t.Error("ValidText")
	}
}

func TestEncode_EnvelopeAndErrors(t *testing.T) {
	b, err := Encode(TypePay, "r1", Pay{To: "x", Amount: 1})
	if err != nil {
		t.Fatal(err)
	}
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil || env.V != Version || env.Type != TypePay || env.ID != "r1" {
		t.Fatalf("envelope = %+v, %v", env, err)
	}
	e := Errorf(CodeRateLimited, "slow down")
	if !errors.Is(e, &Error{Code: CodeRateLimited}) || errors.Is(e, &Error{Code: CodeInternal}) {
		t.Error("errors.Is does not compare codes")
	}
	for code, meaning := range Codes {
		if meaning == "" || code == "" {
			t.Errorf("code %q has no meaning", code)
		}
	}
}

func TestEncode_MatchesEncodingJSON(t *testing.T) {
	for _, c := range []struct {
		typ, id string
		body    any
	}{
		{TypePay, "r1", Pay{To: "w-0123456789abcdef0123@bank-2", Amount: 5}},
		{TypeNotify, "", Notify{Entry: Entry{Seq: 4, Reason: ReasonSweep, Amount: -3}}},
		{TypeBalance, "b", nil},
		{"odd\"type", "id<>&\\", Error{Code: "x", Message: "y"}},
	} {
		got, err := Encode(c.typ, c.id, c.body)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := encodeSlow(c.typ, c.id, c.body)
		var a, b any
		if json.Unmarshal(got, &a) != nil || json.Unmarshal(want, &b) != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("Encode(%q, %q) = %s, want %s", c.typ, c.id, got, want)
		}
	}
}

// retry_after_ms is left out when there is no hint, so an answer without
// one is what it always was, and a client that knows nothing of the
// field reads one that has it.
func TestError_RetryAfterIsOptional(t *testing.T) {
	plain, err := json.Marshal(&Error{Code: CodeUnavailable, Message: "m"})
	if err != nil || string(plain) != `{"code":"unavailable","message":"m"}` {
		t.Errorf("an error without a hint encodes as %s (%v)", plain, err)
	}
	hinted, _ := json.Marshal(&Error{Code: CodeUnavailable, Message: "m", RetryAfterMS: 1500})
	var back Error
	if err := json.Unmarshal(hinted, &back); err != nil || back.RetryAfter() != 1500*time.Millisecond {
		t.Errorf("%s decodes to %+v (%v), want a hint of 1.5s", hinted, back, err)
	}
	var old struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	dec := json.NewDecoder(bytes.NewReader(hinted))
	if err := dec.Decode(&old); err != nil || old.Code != CodeUnavailable {
		t.Errorf("a client that knows only code and message reads %s as %+v (%v)", hinted, old, err)
	}
}

// Only the answers that decided nothing are asked again, wrapped or not,
// after the wait they name.
func TestAskAgain(t *testing.T) {
	for _, c := range []struct {
		err  error
		wait time.Duration
		ok   bool
	}{
		{&Error{Code: CodeUnavailable, Message: "ledger electing", RetryAfterMS: 1500}, 1500 * time.Millisecond, true},
		{fmt.Errorf("withdraw: %w", &Error{Code: CodeUnavailable}), 0, true},
		{Errorf(CodeBusy, "too many in flight"), 0, true},
		{Errorf(CodeRateLimited, "slow down"), 0, true},
		{Errorf(CodeInsufficientFunds, "short"), 0, false},
		{Errorf(CodeInternal, "bug"), 0, false},
		{&Error{Code: CodeBadMessage, RetryAfterMS: 500}, 0, false},
		{errors.New("connection reset"), 0, false},
		{nil, 0, false},
	} {
		if wait, ok := AskAgain(c.err); wait != c.wait || ok != c.ok {
			t.Errorf("AskAgain(%v) = %v, %v; want %v, %v", c.err, wait, ok, c.wait, c.ok)
		}
	}
}

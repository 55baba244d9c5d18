package intermediary_test

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
	"github.com/gorilla/websocket"
)

// rawConn is a wallet connection driven frame by frame, for input the Go
// client would never send.
type rawConn struct {
	t    *testing.T
	conn *websocket.Conn
	ch   protocol.Challenge
	key  ed25519.PrivateKey
	addr string
}

func dialRaw(t *testing.T, url string, header http.Header) *rawConn {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r := &rawConn{t: t, conn: conn}
	env := r.read()
	if env.Type != protocol.TypeChallenge || json.Unmarshal(env.Body, &r.ch) != nil {
		t.Fatalf("first message = %+v, want a challenge", env)
	}
	return r
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if err := r.conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) sendMsg(typ, id string, body any) {
	r.t.Helper()
	b, err := protocol.Encode(typ, id, body)
	if err != nil {
		r.t.Fatal(err)
	}
	r.send(string(b))
}

// read returns the next answer, skipping pushed notifications.
func (r *rawConn) read() protocol.Envelope {
	r.t.Helper()
	for {
		r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := r.conn.ReadMessage()
		if err != nil {
			r.t.Fatalf("read: %v", err)
		}
		var env protocol.Envelope
		if err := json.Unmarshal(data, &env); err != nil {
			r.t.Fatalf("bank sent non-JSON %q", data)
		}
		if env.Type != protocol.TypeNotify {
			return env
		}
	}
}

// expectError reads the next answer and requires an error with code.
func (r *rawConn) expectError(id, code string) {
	r.t.Helper()
	env := r.read()
	var e protocol.Error
	json.Unmarshal(env.Body, &e)
	if env.Type != protocol.TypeError || e.Code != code || env.ID != id || e.Message == "" {
		r.t.Fatalf("answer = %s %s %s, want error %s for id %q", env.Type, env.ID, env.Body, code, id)
	}
}

// hello opens a session with key, signing the connection's challenge.
func (r *rawConn) hello(key ed25519.PrivateKey) protocol.Envelope {
	r.t.Helper()
	pub := key.Public().(ed25519.PublicKey)
	r.key = key
	r.sendMsg(protocol.TypeHello, "h", protocol.Hello{PublicKey: pub, Challenge: r.ch.Challenge,
		Signature: ed25519.Sign(key, protocol.SessionBytes(r.ch.Bank, r.ch.Challenge, pub))})
	env := r.read()
	var w protocol.Welcome
	if env.Type == protocol.TypeWelcome && json.Unmarshal(env.Body, &w) == nil {
		r.addr = w.Wallet
	}
	return env
}

func (r *rawConn) pay(id, to string, amount int64) {
	r.t.Helper()
	m := &protocol.Pay{To: to, Amount: amount}
	protocol.Sign(r.key, protocol.TypePay, r.addr, id, m)
	r.sendMsg(protocol.TypePay, id, m)
}

// stillUsable checks the connection answers a balance request.
func (r *rawConn) stillUsable() {
	r.t.Helper()
	r.sendMsg(protocol.TypeBalance, "alive", nil)
	if env := r.read(); env.Type != protocol.TypeBalanceResult || env.ID != "alive" {
		r.t.Fatalf("after the bad input the session answered %s %s, want a balance", env.Type, env.Body)
	}
}

func TestGateway_BadInputIsRefusedClearly(t *testing.T) {
	n := newTestNet(t, 2, nil)
	aliceKey := newKey(t)
	alice := n.registerKey("bank-1", "Alice", "P-ALICE", aliceKey)
	carol := n.register("bank-2", "Carol", "P-CAROL")
	if _, err := alice.Withdraw(n.ctx, "", 10_000); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, n.banks["bank-1"].url, nil)
	r.sendMsg(protocol.TypeBalance, "early", nil)
	r.expectError("early", protocol.CodeNotAuthenticated)
	if env := r.hello(aliceKey); env.Type != protocol.TypeWelcome {
		t.Fatalf("hello = %s %s", env.Type, env.Body)
	}
	cases := []struct {
		name, id, code string
		send           func()
	}{
		{"malformed JSON", "", protocol.CodeBadMessage, func() { r.send(`{"v":1,"type":"balance",`) }},
		{"unknown type", "u1", protocol.CodeUnknownType, func() { r.sendMsg("teleport", "u1", nil) }},
		{"unsupported version", "v1", protocol.CodeUnsupportedVersion, func() { r.send(`{"v":2,"type":"balance","id":"v1"}`) }},
		{"bad request id", "has space", protocol.CodeBadRequestID, func() { r.sendMsg(protocol.TypeBalance, "has space", nil) }},
		{"missing request id", "", protocol.CodeBadRequestID, func() { r.sendMsg(protocol.TypeBalance, "", nil) }},
		{"unknown field", "f1", protocol.CodeBadMessage, func() { r.send(`{"v":1,"type":"pay","id":"f1","body":{"to":"x","amount":1,"signature":"","tip":5}}`) }},
		{"amount overflow", "o1", protocol.CodeAmountOverflow, func() {
			r.send(`{"v":1,"type":"pay","id":"o1","body":{"to":"` + carol.Address() + `","amount":99999999999999999999,"signature":""}}`)
		}},
		{"fractional amount", "o2", protocol.CodeInvalidAmount, func() {
			r.send(`{"v":1,"type":"pay","id":"o2","body":{"to":"` + carol.Address() + `","amount":1.5,"signature":""}}`)
		}},
		{"bad signature", "s1", protocol.CodeBadSignature, func() {
			m := &protocol.Pay{To: carol.Address(), Amount: 100}
			protocol.Sign(r.key, protocol.TypePay, r.addr, "s1", m)
			m.Amount = 1000 // signed 100, asks 1000
			r.sendMsg(protocol.TypePay, "s1", m)
		}},
		{"signature of another wallet", "s2", protocol.CodeBadSignature, func() {
			m := &protocol.Pay{To: carol.Address(), Amount: 100}
			protocol.Sign(newKey(t), protocol.TypePay, r.addr, "s2", m)
			r.sendMsg(protocol.TypePay, "s2", m)
		}},
		{"negative amount", "a1", protocol.CodeInvalidAmount, func() { r.pay("a1", carol.Address(), -5) }},
		{"not a wallet address", "a2", protocol.CodeInvalidPayee, func() { r.pay("a2", "bank-2", 5) }},
		{"no such wallet", "a3", protocol.CodeUnknownPayee, func() { r.pay("a3", "w-00000000000000000000@bank-2", 5) }},
		{"paying itself", "a4", protocol.CodeSameWallet, func() { r.pay("a4", r.addr, 5) }},
		{"over the payment limit", "a5", protocol.CodePaymentLimit, func() { r.pay("a5", carol.Address(), 50_001) }},
		{"insufficient funds", "a6", protocol.CodeInsufficientFunds, func() { r.pay("a6", carol.Address(), 10_001) }},
		{"hello twice", "h2", protocol.CodeAlreadyAuthed, func() {
			pub := r.key.Public().(ed25519.PublicKey)
			r.sendMsg(protocol.TypeHello, "h2", protocol.Hello{PublicKey: pub, Challenge: r.ch.Challenge,
				Signature: ed25519.Sign(r.key, protocol.SessionBytes(r.ch.Bank, r.ch.Challenge, pub))})
		}},
		{"binary frame", "", protocol.CodeBadMessage, func() { r.conn.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r.t = t
			c.send()
			r.expectError(c.id, c.code)
			r.stillUsable()
		})
	}
	r.t = t

	// A replayed instruction gets the first answer and moves money once.
	r.pay("once", carol.Address(), 700)
	first := r.read()
	r.pay("once", carol.Address(), 700)
	second := r.read()
	if first.Type != protocol.TypePaid || string(first.Body) != string(second.Body) {
		t.Errorf("replay answered %s %s after %s %s", second.Type, second.Body, first.Type, first.Body)
	}
	r.pay("once", carol.Address(), 800)
	r.expectError("once", protocol.CodeRequestIDReused)
	if got := balance(t, n.ctx, carol); got != 700 {
		t.Errorf("carol holds %d after a replayed payment, want 700", got)
	}
}

func TestGateway_SessionStartRefusals(t *testing.T) {
	n := newTestNet(t, 2, nil)
	key := newKey(t)
	n.registerKey("bank-1", "Alice", "P-ALICE", key)
	pub := key.Public().(ed25519.PublicKey)

	r := dialRaw(t, n.banks["bank-1"].url, nil)
	other := append([]byte(nil), r.ch.Challenge...)
	other[0] ^= 1
	r.sendMsg(protocol.TypeHello, "h1", protocol.Hello{PublicKey: pub, Challenge: other,
		Signature: ed25519.Sign(key, protocol.SessionBytes(r.ch.Bank, other, pub))})
	r.expectError("h1", protocol.CodeWrongChallenge)
	r.sendMsg(protocol.TypeHello, "h2", protocol.Hello{PublicKey: pub, Challenge: r.ch.Challenge,
		Signature: ed25519.Sign(newKey(t), protocol.SessionBytes(r.ch.Bank, r.ch.Challenge, pub))})
	r.expectError("h2", protocol.CodeBadSignature)
	r.sendMsg(protocol.TypeHello, "h3", protocol.Hello{PublicKey: pub[:10], Challenge: r.ch.Challenge, Signature: []byte{}})
	r.expectError("h3", protocol.CodeBadPublicKey)
	// Signed for another bank: the session bytes name the bank.
	r.sendMsg(protocol.TypeHello, "h4", protocol.Hello{PublicKey: pub, Challenge: r.ch.Challenge,
		Signature: ed25519.Sign(key, protocol.SessionBytes("bank-2", r.ch.Challenge, pub))})
	r.expectError("h4", protocol.CodeBadSignature)
	if env := r.hello(key); env.Type != protocol.TypeWelcome {
		t.Fatalf("a proper hello after refusals = %s %s", env.Type, env.Body)
	}

	// A wallet of another bank.
	r2 := dialRaw(t, n.banks["bank-2"].url, nil)
	if env := r2.hello(key); env.Type != protocol.TypeError || !strings.Contains(string(env.Body), protocol.CodeUnknownWallet) {
		t.Errorf("hello at the wrong bank = %s %s, want unknown_wallet", env.Type, env.Body)
	}
	// Registering a key again: as another person it is refused; as the
	// same person (a register whose welcome was lost) it opens the session.
	r3 := dialRaw(t, n.banks["bank-1"].url, nil)
	reg := protocol.Register{PublicKey: pub, Name: "Mallory", PersonID: "P-M",
		Challenge: r3.ch.Challenge, Signature: ed25519.Sign(key, protocol.SessionBytes(r3.ch.Bank, r3.ch.Challenge, pub))}
	r3.sendMsg(protocol.TypeRegister, "g1", reg)
	r3.expectError("g1", protocol.CodeWalletExists)
	reg.Name, reg.PersonID = "Alice", "P-ALICE"
	r3.sendMsg(protocol.TypeRegister, "g2", reg)
	if env := r3.read(); env.Type != protocol.TypeWelcome {
		t.Errorf("registering again as the same person = %s %s, want welcome", env.Type, env.Body)
	}
}

func TestGateway_OversizedFrameClosesWith1009(t *testing.T) {
	n := newTestNet(t, 1, nil)
	r := dialRaw(t, n.banks["bank-1"].url, nil)
	r.send(`{"v":1,"type":"balance","id":"big","body":"` + strings.Repeat("x", protocol.MaxMessageBytes) + `"}`)
	r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := r.conn.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("after an oversized frame: %v, want close 1009", err)
	}
	// The bank is still up for everyone else.
	n.register("bank-1", "Alice", "P-ALICE")
}

func TestGateway_ForeignOriginRefused(t *testing.T) {
	n := newTestNet(t, 1, func(c *intermediary.Config) { c.Origins = []string{"http://localhost:8080"} })
	url := n.banks["bank-1"].url
	_, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {"http://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: err %v, response %v; want 403", err, resp)
	}
	dialRaw(t, url, http.Header{"Origin": {"http://localhost:8080"}})
}

func TestGateway_RateLimitPerWallet(t *testing.T) {
	n := newTestNet(t, 1, func(c *intermediary.Config) { c.RatePerSecond, c.RateBurst = 0.01, 2 })
	alice := n.register("bank-1", "Alice", "P-ALICE")
	bob := n.register("bank-1", "Bob", "P-BOB")
	if _, err := alice.Withdraw(n.ctx, "", 1_000); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Pay(n.ctx, "", bob.Address(), 10); err != nil {
		t.Fatal(err)
	}
	_, err := alice.Pay(n.ctx, "", bob.Address(), 10)
	mustCode(t, err, protocol.CodeRateLimited)
	if _, err := bob.Withdraw(n.ctx, "", 1); err != nil {
		t.Errorf("another wallet was limited too: %v", err)
	}
}

func TestAdmin_NeedsTokenAndOnboards(t *testing.T) {
	n := newTestNet(t, 1, nil)
	base := n.banks["bank-1"].http
	resp, err := http.Get(base + "/admin/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("admin without a token: %s, want 401", resp.Status)
	}
	key := newKey(t)
	body := `{"name":"Shop","person_id":"CORP-1","tier":"merchant","deposit":1000000,"public_keys":["` +
		b64(key.Public().(ed25519.PublicKey)) + `"]}`
	var c bankadmin.CustomerInfo
	if code := adminCall(t, "POST", base+"/admin/customers", body, &c); code != http.StatusOK || c.Tier.Name != "merchant" || len(c.Wallets) != 1 {
		t.Fatalf("onboard: %d %+v", code, c)
	}
	var e struct{ Error protocol.Error }
	if code := adminCall(t, "POST", base+"/admin/customers", `{"name":"Shop","person_id":"corp-1","public_keys":["`+
		b64(newKey(t).Public().(ed25519.PublicKey))+`"]}`, &e); code != http.StatusBadRequest || e.Error.Code != protocol.CodeBadCustomer {
		t.Errorf("the same person twice: %d %+v", code, e)
	}
	if code := adminCall(t, "PUT", base+"/admin/customers/"+c.ID+"/tier", `{"tier":"gold"}`, &e); code != http.StatusBadRequest {
		t.Errorf("an unknown tier: %d", code)
	}
	if code := adminCall(t, "PUT", base+"/admin/customers/"+c.ID+"/tier", `{"tier":"standard"}`, &c); code != http.StatusOK || c.Tier.Name != "standard" {
		t.Errorf("tier change: %d %+v", code, c)
	}
	var st bankadmin.Status
	if code := adminCall(t, "POST", base+"/admin/float/redeem", `{"amount":1000}`, &st); code != http.StatusOK || st.Float != 50_000_000-1000 {
		t.Errorf("redeem: %d %+v", code, st)
	}
}

func TestGateway_RegistrationsPerAddressAreBounded(t *testing.T) {
	n := newTestNet(t, 1, func(c *intermediary.Config) { c.RegistrationsPerMinute = 2 })
	n.register("bank-1", "A", "P-A")
	n.register("bank-1", "B", "P-B")
	_, err := wallet.Register(n.ctx, n.banks["bank-1"].url, newKey(t), "C", "P-C", wallet.DialOptions{})
	mustCode(t, err, protocol.CodeRateLimited)
}

// A bank may relay requests only for its own merchants, and only requests
// its wallets could have made.
func TestRelay_RequestsFromAnotherBankAreChecked(t *testing.T) {
	n := newTestNet(t, 3, nil)
	alice := n.register("bank-1", "Alice", "P-ALICE")
	shop := n.register("bank-2", "Shop", "P-SHOP")
	send := func(r protocol.PaymentRequest) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"kind": "payment_request", "request": r})
		if err := n.ledger.Intermediary("bank-2").Send(n.ctx, "bank-1", body); err != nil {
			t.Fatal(err)
		}
	}
	good := protocol.PaymentRequest{Ref: "bank-2.7", Merchant: shop.Address(), Payer: alice.Address(), Amount: 500,
		Expires: time.Now().Add(time.Minute), Status: protocol.RequestPending}
	forged := good
	forged.Ref, forged.Merchant = "bank-3.1", "w-00000000000000000000@bank-3" // bank-2 posing for bank-3's merchant
	huge := good
	huge.Ref, huge.Memo = "bank-2.8", strings.Repeat("x", 5000)
	free := good
	free.Ref, free.Amount = "bank-2.9", -5
	for _, r := range []protocol.PaymentRequest{forged, huge, free, good} {
		send(r)
	}
	var got protocol.RequestUpdate
	nextEvent(t, alice, protocol.TypePaymentRequest, &got)
	if got.Request.Ref != good.Ref {
		t.Errorf("alice was pushed %+v first, want only the good request", got.Request)
	}
}

// Connections that never sign in are bounded per address; signing in or
// closing makes room again, and wallets already in are never refused.
func TestGateway_WaitingConnectionsPerAddressAreBounded(t *testing.T) {
	n := newTestNet(t, 1, func(c *intermediary.Config) { c.MaxWaitingPerAddress = 3 })
	url := n.banks["bank-1"].url
	alice := n.register("bank-1", "Alice", "P-ALICE")
	bobKey := newKey(t)
	n.registerKey("bank-1", "Bob", "P-BOB", bobKey)
	idle := []*rawConn{dialRaw(t, url, nil), dialRaw(t, url, nil), dialRaw(t, url, nil)}
	refused := func() {
		t.Helper()
		_, resp, err := websocket.DefaultDialer.Dial(url, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("a fourth idle connection: %v, %v; want 429", err, resp)
		}
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), "have not signed in yet") {
			t.Errorf("the refusal says %q", body)
		}
	}
	refused()
	if _, err := alice.Balance(n.ctx); err != nil {
		t.Errorf("a wallet already signed in: %v", err)
	}
	// One of the three signs in: room for one more.
	if env := idle[0].hello(bobKey); env.Type != protocol.TypeWelcome {
		t.Fatalf("hello: %s %s", env.Type, env.Body)
	}
	idle = append(idle, dialRaw(t, url, nil))
	refused()
	// One closes: room again.
	idle[1].conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed idle connection did not make room: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

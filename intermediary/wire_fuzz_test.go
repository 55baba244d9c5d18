package intermediary_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// FuzzWalletFrame sends arbitrary first frames to a bank's wallet
// gateway. Whatever arrives, the bank answers with an error envelope or
// closes the connection, within a second, and keeps serving: the next
// connection gets its challenge.
func FuzzWalletFrame(f *testing.F) {
	n := newTestNet(f, 1, nil)
	url := n.banks["bank-1"].url
	for _, s := range []string{
		`{"type":"hello","id":"r1","body":{}}`,
		`{"type":"register","id":"r2","body":{"public_key":"AAAA","name":"x","person_id":"p","challenge":"","signature":""}}`,
		`{"type":"pay","id":"r3","body":{"to":"w-1@bank-1","amount":1}}`,
		`{"type":"hello","body":null}`,
		`{"type":"","id":""}`,
		`not json`, `[]`, `null`, ``, `{"type":"hello","id":"r1","body":{"public_key":"` + string(make([]byte, 300)) + `"}}`,
	} {
		f.Add([]byte(s))
	}
	challenge := func(t *testing.T) *websocket.Conn {
		t.Helper()
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatalf("the bank stopped taking connections: %v", err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var env protocol.Envelope
		if err := c.ReadJSON(&env); err != nil || env.Type != protocol.TypeChallenge {
			c.Close()
			t.Fatalf("no challenge on connect: %v %+v", err, env)
		}
		return c
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		c := challenge(t)
		defer c.Close()
		if err := c.WriteMessage(websocket.TextMessage, frame); err != nil {
			return // the bank closed first: refused
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, msg, err := c.ReadMessage()
		if err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatalf("no answer to %q within a second", frame)
			}
			return // closed: refused
		}
		var env protocol.Envelope
		if json.Unmarshal(msg, &env) != nil || (env.Type != protocol.TypeError && env.Type != protocol.TypeWelcome) {
			t.Fatalf("answer to %q is neither an error nor a welcome: %s", frame, msg)
		}
		challenge(t).Close()
	})
}

// FuzzSignedInFrame sends arbitrary frames on a session that has signed
// in. The bank answers each with one envelope or closes the connection,
// keeps serving, and moves no money: the fuzzer cannot sign for the wallet.
func FuzzSignedInFrame(f *testing.F) {
	n := newTestNet(f, 1, nil)
	url := n.banks["bank-1"].url
	key := newKey(f)
	alice := n.registerKey("bank-1", "Alice", "P-ALICE", key)
	bob := n.register("bank-1", "Bob", "P-BOB")
	if _, err := alice.Withdraw(n.ctx, "", 10_000); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		`{"v":1,"type":"balance","id":"b"}`,
		`{"v":1,"type":"history","id":"h","body":{"limit":5}}`,
		`{"v":1,"type":"pay","id":"p","body":{"to":"` + bob.Address() + `","amount":100,"signature":"AAAA"}}`,
		`{"v":1,"type":"withdraw","id":"w","body":{"amount":-5}}`,
		`{"v":1,"type":"deposit","id":"d","body":{"amount":9223372036854775807}}`,
		`{"v":1,"type":"schedule","id":"s","body":{"to":"x","amount":1,"at":"never"}}`,
		`{"v":1,"type":"purse_sync","id":"ps","body":{"vouchers":[null]}}`,
		`{"v":1,"type":"settings","id":"st","body":{"waterfall":"yes"}}`,
		`{"v":1,"type":"hello","id":"again","body":{}}`,
		`{"v":1,"type":"request_payment","id":"rp","body":{"payer":"` + bob.Address() + `","amount":1,"expires_in":-1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatalf("the bank stopped taking connections: %v", err)
		}
		defer c.Close()
		r := &rawConn{t: t, conn: c}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if env := r.read(); env.Type != protocol.TypeChallenge || json.Unmarshal(env.Body, &r.ch) != nil {
			t.Fatalf("no challenge: %+v", env)
		}
		if env := r.hello(key); env.Type != protocol.TypeWelcome {
			t.Fatalf("hello: %s %s", env.Type, env.Body)
		}
		if err := c.WriteMessage(websocket.TextMessage, frame); err != nil {
			return
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, msg, err := c.ReadMessage()
		if err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatalf("no answer to %q within 5 seconds", frame)
			}
			return // closed: refused
		}
		var env protocol.Envelope
		if json.Unmarshal(msg, &env) != nil || env.Type == "" {
			t.Fatalf("answer to %q is not an envelope: %s", frame, msg)
		}
		a, err := alice.Balance(n.ctx)
		if err != nil {
			t.Fatalf("the bank stopped answering: %v", err)
		}
		if a.Balance != 10_000 || a.Deposit != intermediary.DefaultOpeningDeposit-10_000 {
			t.Fatalf("after %q alice holds %d and %d on deposit: money moved without her signature", frame, a.Balance, a.Deposit)
		}
	})
}

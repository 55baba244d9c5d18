package intermediary_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gorilla/websocket"

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

package intermediary_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
	"github.com/gorilla/websocket"
)

// wallet.OpenSession signs in as Dial does and hands over the socket: the
// caller's own signed instruction is answered on it; a server that is not
// the bank asked for, or a key the bank does not know, gets no session.
func TestWallet_OpenSessionHandsOverASignedInSocket(t *testing.T) {
	n := newTestNet(t, 2, nil)
	key := newKey(t)
	alice := n.registerKey("bank-1", "Alice", "P-ALICE", key)
	bob := n.register("bank-2", "Bob", "P-BOB")
	if _, err := alice.Withdraw(n.ctx, "", 1_000); err != nil {
		t.Fatal(err)
	}
	url := n.banks["bank-1"].url

	conn, welcome, err := wallet.OpenSession(n.ctx, url, key, wallet.DialOptions{Bank: "bank-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if welcome.Wallet != alice.Address() {
		t.Fatalf("welcomed as %q, want %q", welcome.Wallet, alice.Address())
	}
	msg, err := wallet.SignPay(key, welcome.Wallet, "own-1", bob.Address(), 250)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var env protocol.Envelope
		if err := json.Unmarshal(data, &env); err != nil {
			t.Fatalf("the bank sent %q", data)
		}
		if env.ID == "own-1" {
			if env.Type != protocol.TypePaid {
				t.Fatalf("the payment was answered %s", data)
			}
			break
		}
	}
	if got := balance(t, n.ctx, bob); got != 250 {
		t.Errorf("Bob holds %d, want 250", got)
	}

	if _, _, err := wallet.OpenSession(n.ctx, url, key, wallet.DialOptions{Bank: "bank-2"}); err == nil {
		t.Error("a session opened at bank-1 for a wallet that asked for bank-2")
	}
	if _, _, err := wallet.OpenSession(n.ctx, url, newKey(t), wallet.DialOptions{}); err == nil {
		t.Error("a session opened for a key the bank does not know")
	}
}

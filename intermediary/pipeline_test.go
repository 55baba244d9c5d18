package intermediary_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
	"github.com/gorilla/websocket"
)

// Wallets that send a connection's whole allowance of instructions at
// once, of different lengths and from several connections together, get
// each one carried out as signed: every answer is its own, every payee is
// credited exactly what was sent to it. The bank must never read one
// instruction's bytes while decoding another's.
func TestPay_PipelinedInstructionsAreEachTheirOwn(t *testing.T) {
	n := newTestNet(t, 2, nil)
	const payers, each = 4, 32 // 32: the default in-flight limit, within the rate's burst
	payees := []*wallet.Client{n.register("bank-2", "Payee A", "P-PA"), n.register("bank-1", "Payee B", "P-PB")}
	want := make([]int64, len(payees))
	type sent struct {
		id     string
		payee  int
		amount int64
	}
	var plans [payers][]sent
	for p := range payers {
		for i := range each {
			// Amounts of one to four digits, so messages differ in length.
			amount := int64([]int{7, 42, 613, 1_718, 3_141}[(p+i)%5])
			payee := (p*each + i) % len(payees)
			plans[p] = append(plans[p], sent{id: fmt.Sprintf("p%d-%d", p, i), payee: payee, amount: amount})
			want[payee] += amount
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, payers)
	for p := range payers {
		key := newKey(t)
		c := n.registerKey("bank-1", fmt.Sprintf("Payer %d", p), fmt.Sprintf("P-PAYER-%d", p), key)
		if _, err := c.Withdraw(n.ctx, "", 100_000); err != nil {
			t.Fatal(err)
		}
		conn, welcome, err := wallet.OpenSession(n.ctx, n.banks["bank-1"].url, key, wallet.DialOptions{Bank: "bank-1"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		msgs := make([][]byte, 0, each)
		for _, s := range plans[p] {
			msg, err := wallet.SignPay(key, welcome.Wallet, s.id, payees[s.payee].Address(), s.amount)
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, msg)
		}
		wg.Go(func() {
			for _, msg := range msgs {
				if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
					errs <- err
					return
				}
			}
			answered := map[string]bool{}
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			for len(answered) < each {
				_, data, err := conn.ReadMessage()
				if err != nil {
					errs <- fmt.Errorf("payer %d after %d answers: %w", p, len(answered), err)
					return
				}
				var env protocol.Envelope
				if err := json.Unmarshal(data, &env); err != nil || !strings.HasPrefix(env.ID, fmt.Sprintf("p%d-", p)) {
					continue // a notification
				}
				if env.Type != protocol.TypePaid || answered[env.ID] {
					errs <- fmt.Errorf("payer %d: %s answered %s", p, env.ID, data)
					return
				}
				answered[env.ID] = true
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, c := range payees {
		if got := balance(t, n.ctx, c); got != want[i] {
			t.Errorf("%s holds %d, want %d", c.Address(), got, want[i])
		}
	}
}

package ledgerhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

func TestClient_MessagesRoundTrip(t *testing.T) {
	n := newTestNet(t)
	a, b := n.client["bank-a"], n.client["bank-b"]
	sent := time.Now()
	for _, m := range []struct {
		from *Client
		to   ledger.AccountID
		body string
	}{
		{a, "bank-b", "request-to-pay 1"},
		{a, "bank-b", "request-to-pay 2"},
		{b, "bank-b", "note to self"},
		{b, "bank-a", "paid 1"},
	} {
		if err := m.from.Send(n.ctx, m.to, []byte(m.body)); err != nil {
			t.Fatalf("%s to %s: %v", m.from.ID(), m.to, err)
		}
	}
	check := func(got []ledger.Message, want ...string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("received %d messages, want %d", len(got), len(want))
		}
		for i, m := range got {
			from, body, _ := strings.Cut(want[i], ": ")
			if string(m.From) != from || string(m.Body) != body || m.Time.Before(sent) || m.Time.After(time.Now()) {
				t.Errorf("message %d = %s %v %q, want %s", i, m.From, m.Time, m.Body, want[i])
			}
		}
	}
	check(n.receive(b, 2), "bank-a: request-to-pay 1", "bank-a: request-to-pay 2")
	check(n.receive(b, 0), "bank-b: note to self")
	check(n.receive(a, 10), "bank-b: paid 1")

	got := make(chan []ledger.Message, 1)
	go func() { got <- n.receive(a, 10) }()
	select {
	case m := <-got:
		t.Fatalf("Receive on an empty mailbox returned %v", m)
	case <-time.After(100 * time.Millisecond):
	}
	if err := b.Send(n.ctx, "bank-a", []byte("paid 2")); err != nil {
		t.Fatal(err)
	}
	check(<-got, "bank-b: paid 2")
}

func TestClient_SendRefusals(t *testing.T) {
	n := newTestNet(t)
	a := n.client["bank-a"]
	n.must(a.OpenAccount(n.ctx, "open-alice", ledger.AccountSpec{ID: "alice", Kind: ledger.KindWallet}))
	for i := range ledger.MaxMailbox {
		if err := n.l.Intermediary("bank-a").Send(n.ctx, "bank-b", nil); err != nil {
			t.Fatalf("filling bank-b's mailbox, message %d: %v", i, err)
		}
	}
	tests := []struct {
		name   string
		to     ledger.AccountID
		body   []byte
		want   *ledger.Error
		status int
	}{
		{"full mailbox", "bank-b", []byte("hi"), ledger.ErrMailboxFull, http.StatusTooManyRequests},
		{"too large", "bank-a", make([]byte, ledger.MaxMessageBytes+1), ledger.ErrMessageTooLarge, http.StatusRequestEntityTooLarge},
		{"unknown recipient", "bank-z", []byte("hi"), ledger.ErrUnknownAccount, http.StatusNotFound},
		{"a wallet", "alice", []byte("hi"), ledger.ErrWrongKind, http.StatusBadRequest},
		{"the issuance account", ledger.IssuanceAccount, []byte("hi"), ledger.ErrWrongKind, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := a.Send(n.ctx, tt.to, tt.body); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %s", err, tt.want.Code)
			}
			if status := n.postMessage("bank-a", sendRequest{To: tt.to, Body: tt.body}); status != tt.status {
				t.Errorf("status %d, want %d", status, tt.status)
			}
		})
	}
	if err := a.Send(n.ctx, "bank-a", make([]byte, ledger.MaxMessageBytes)); err != nil {
		t.Errorf("a body of exactly %d bytes: %v", ledger.MaxMessageBytes, err)
	}
}

func TestClient_ReceiveEnds(t *testing.T) {
	n := newTestNet(t)
	b := n.client["bank-b"]
	start := time.Now()
	ctx, cancel := context.WithTimeout(n.ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := b.Receive(ctx, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a long poll whose context ends: err = %v", err)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("a long poll with 300ms to go took %v", took)
	}
	if status, body := n.get("bank-b", "/v1/messages?wait=10ms"); status != http.StatusOK || strings.TrimSpace(body) != `{"messages":[]}` {
		t.Errorf("a wait that passes: %d %s", status, body)
	}

	got := make(chan error, 1)
	go func() {
		_, err := b.Receive(n.ctx, 10)
		got <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the long poll reach the ledger
	if err := n.l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if !errors.Is(err, ledger.ErrClosed) {
			t.Errorf("waiting receiver at close: err = %v, want ledger_closed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("closing the ledger did not end a waiting receiver")
	}
}

func (n *testNet) receive(c *Client, max int) []ledger.Message {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	defer cancel()
	msgs, err := c.Receive(ctx, max)
	if err != nil {
		n.t.Errorf("%s receiving: %v", c.ID(), err)
	}
	return msgs
}

// postMessage sends POST /v1/messages as bank and returns the status.
func (n *testNet) postMessage(bank ledger.AccountID, req sendRequest) int {
	n.t.Helper()
	token, err := n.client[bank].session(n.ctx)
	if err != nil {
		n.t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(req); err != nil {
		n.t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/v1/messages", &buf)
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		n.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

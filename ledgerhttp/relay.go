package ledgerhttp

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

type sendRequest struct {
	To   ledger.AccountID `json:"to"`
	Body []byte           `json:"body"` // base64 in JSON
}

type sendResponse struct{}

type messagesResponse struct {
	Messages []wireMessage `json:"messages"`
}

type wireMessage struct {
	From ledger.AccountID `json:"from"`
	Time time.Time        `json:"time"`
	Body []byte           `json:"body"`
}

// handleSend answers POST /v1/messages.
func (s *Server) handleSend(w http.ResponseWriter, r *http.Request, bank *ledger.Intermediary) {
	var req sendRequest
	if !decode(w, r, &req) {
		return
	}
	if err := bank.Send(r.Context(), req.To, req.Body); err != nil {
		writeRelayError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sendResponse{})
}

// handleReceive answers GET /v1/messages?max=M&wait=D, with an empty list
// when the wait passes first.
func (s *Server) handleReceive(w http.ResponseWriter, r *http.Request, bank *ledger.Intermediary) {
	q := r.URL.Query()
	n, err1 := queryUint(q, "max")
	wait, err2 := queryWait(q)
	if badQuery(w, err1, err2) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	msgs, err := bank.Receive(ctx, int(min(n, ledger.MaxReceive)))
	if err != nil && !waitPassed(r, err) {
		writeLedgerError(w, err)
		return
	}
	out := make([]wireMessage, len(msgs))
	for i, m := range msgs {
		out[i] = wireMessage(m)
	}
	writeJSON(w, http.StatusOK, messagesResponse{Messages: out})
}

// writeRelayError answers a refused message with a status that says what
// to do about it: wait for room, or send less.
func writeRelayError(w http.ResponseWriter, err error) {
	switch e := toWireError(err); e.Code {
	case ledger.ErrMailboxFull.Code:
		writeError(w, http.StatusTooManyRequests, e.Code, e.Message)
	case ledger.ErrMessageTooLarge.Code:
		writeError(w, http.StatusRequestEntityTooLarge, e.Code, e.Message)
	default:
		writeLedgerError(w, err)
	}
}

// Send leaves body for intermediary to, as ledger.Intermediary.Send does.
func (c *Client) Send(ctx context.Context, to ledger.AccountID, body []byte) error {
	return c.call(ctx, http.MethodPost, "/v1/messages", sendRequest{To: to, Body: body}, &sendResponse{})
}

// Receive takes up to max messages from the intermediary's mailbox, oldest
// first, as ledger.Intermediary.Receive does. It waits as long as ctx
// allows, asking the ledger again every 25 seconds or so.
func (c *Client) Receive(ctx context.Context, max int) ([]ledger.Message, error) {
	if max < 0 {
		max = 0 // the ledger's default, as for any count out of range
	}
	var resp messagesResponse
	err := longPoll(ctx, c.pollMost(), func(wait time.Duration) (bool, error) {
		q := url.Values{"max": {strconv.Itoa(max)}, "wait": {wait.String()}}
		resp = messagesResponse{}
		err := c.poll(ctx, wait, "/v1/messages?"+q.Encode(), &resp)
		return len(resp.Messages) > 0, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]ledger.Message, len(resp.Messages))
	for i, m := range resp.Messages {
		out[i] = ledger.Message(m)
	}
	return out, nil
}

package ledgerhttp

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

type feedResponse struct {
	Events []ledger.Event `json:"events"`
	Next   uint64         `json:"next"`
}

// handleFeed answers GET /v1/feed?from=N&limit=M&wait=D. When the wait
// passes with nothing durable at or after from, it answers no events and
// next = from.
func (s *Server) handleFeed(w http.ResponseWriter, r *http.Request, bank *ledger.Intermediary) {
	q := r.URL.Query()
	from, err1 := queryUint(q, "from")
	limit, err2 := queryUint(q, "limit")
	wait, err3 := queryWait(q)
	if badQuery(w, err1, err2, err3) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	events, next, err := bank.Feed(ctx, from, int(min(limit, ledger.MaxPage)))
	switch {
	case waitPassed(r, err):
		events, next = nil, from
	case err != nil:
		writeLedgerError(w, err)
		return
	}
	if events == nil {
		events = []ledger.Event{}
	}
	writeJSON(w, http.StatusOK, feedResponse{Events: events, Next: next})
}

// Feed returns durable events with Seq >= from that concern the
// intermediary, at most limit of them, and the sequence to ask for next, as
// ledger.Intermediary.Feed does. When nothing durable at or after from
// exists yet, it waits as long as ctx allows, asking the ledger again every
// 25 seconds or so.
func (c *Client) Feed(ctx context.Context, from uint64, limit int) ([]ledger.Event, uint64, error) {
	var resp feedResponse
	err := longPoll(ctx, c.pollMost(), func(wait time.Duration) (bool, error) {
		q := url.Values{"from": {strconv.FormatUint(from, 10)}, "limit": {strconv.Itoa(max(limit, 0))}, "wait": {wait.String()}}
		resp = feedResponse{}
		err := c.poll(ctx, wait, "/v1/feed?"+q.Encode(), &resp)
		return len(resp.Events) > 0 || resp.Next != from, err
	})
	if err != nil {
		return nil, 0, err
	}
	if n := len(resp.Events); n > 0 {
		c.saw(resp.Events[n-1].Seq)
	}
	return resp.Events, resp.Next, nil
}

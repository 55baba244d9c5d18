package ledgerhttp

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Ready asks the ledger whether it takes operations (GET /readyz, which
// needs no session): nil when it does; ErrNotReady with the ledger's
// reason when it answers that it does not, as after its storage failed;
// an *UnreachableError when it does not answer within ReadyTimeout or the
// circuit is open. It goes through the breaker like any call and may be
// its probe, so a bank that asks now and then learns the ledger is back
// without a wallet's request paying for the probe.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, readyCall, 0, http.MethodGet, "/readyz", c.readyz)
}

func (c *Client) readyz(ctx context.Context) error {
	req, err := c.request(ctx, http.MethodGet, "/readyz", "", nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return noAnswer(http.MethodGet, "/readyz", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case err != nil:
		return &UnreachableError{Method: http.MethodGet, Path: "/readyz", Err: err}
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusServiceUnavailable && strings.HasPrefix(string(body), "not ready"):
		reason := strings.TrimSpace(strings.TrimPrefix(string(body), "not ready:"))
		return fmt.Errorf("%w: %s", ErrNotReady, reason)
	case gatewayStatus(resp.StatusCode):
		return &UnreachableError{Method: http.MethodGet, Path: "/readyz", Err: fmt.Errorf("%s", resp.Status)}
	}
	return fmt.Errorf("%w: GET /readyz: %s", ErrNotReady, resp.Status)
}

// Reachable says, without touching the network, whether the client's
// circuit is closed: nil when it is; when it is not, an *UnreachableError
// that says since when, why, and when the next probe may go.
func (c *Client) Reachable() error {
	state, since, cause, wait := c.brk.status()
	if state == CircuitClosed {
		return nil
	}
	return &UnreachableError{Method: "", Path: "", wait: max(wait, c.brk.opts.BackoffMin),
		Err: fmt.Errorf("circuit %s since %s (%v)", state, since.Format(time.RFC3339), cause)}
}

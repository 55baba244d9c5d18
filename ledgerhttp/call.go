package ledgerhttp

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/digital-yen/cbdc-sandbox/reqid"
)

// call sends one request with the session token, signing in first when
// there is none and once more when the ledger no longer knows it, within
// CallTimeout.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	return c.do(ctx, plainCall, 0, method, path, func(ctx context.Context) error {
		return c.exchange(ctx, method, path, in, out)
	})
}

// callSlow is call for an exchange that carries much work, within
// SlowTimeout.
func (c *Client) callSlow(ctx context.Context, method, path string, in, out any) error {
	return c.do(ctx, slowCall, 0, method, path, func(ctx context.Context) error {
		return c.exchange(ctx, method, path, in, out)
	})
}

// poll is one round of a long poll that asks the ledger to wait up to
// wait: its deadline leaves room for the answer.
func (c *Client) poll(ctx context.Context, wait time.Duration, path string, out any) error {
	return c.do(ctx, pollCall, wait, http.MethodGet, path, func(ctx context.Context) error {
		return c.exchange(ctx, http.MethodGet, path, nil, out)
	})
}

// pollMost is the longest wait a long poll asks for: clientWait, or less
// when the HTTP client's own timeout would cut it short.
func (c *Client) pollMost() time.Duration {
	if t := c.hc.Timeout; t > 0 && t < clientWait+longPollGrace {
		return max(t-longPollGrace, t/2)
	}
	return clientWait
}

// callKind says how long a call may take and what the breaker makes of it.
type callKind int

const (
	plainCall callKind = iota // CallTimeout; running out of it opens the circuit at once
	slowCall                  // SlowTimeout; likewise
	pollCall                  // a long poll: its wait plus longPollGrace; never a probe
	readyCall                 // ReadyTimeout; running out of it is one failure like any other
)

func (c *Client) timeout(k callKind, wait time.Duration) time.Duration {
	switch k {
	case slowCall:
		return c.opts.SlowTimeout
	case pollCall:
		return wait + longPollGrace
	case readyCall:
		return c.opts.ReadyTimeout
	}
	return c.opts.CallTimeout
}

// do runs exchange within the call's deadline, when the breaker lets it,
// and tells the breaker what became of it. Given a replicated ledger's
// replicas, it asks the next one at once when a replica sends the call on
// (see turnsAway), each replica at most once: whatever the call is, asking
// again is safe, since an operation is applied once under its id.
func (c *Client) do(ctx context.Context, k callKind, wait time.Duration, method, path string, exchange func(context.Context) error) error {
	probe, retry, ok := c.brk.admit(k == pollCall)
	if !ok {
		return &UnreachableError{Method: method, Path: path, Err: ErrCircuitOpen, wait: retry}
	}
	var err error
	for tries := 1; ; tries++ {
		_, at := c.base()
		var o outcome
		var opened bool
		o, opened, err = c.attempt(ctx, k, wait, probe, exchange)
		if o == abandoned || !turnsAway(err) {
			break
		}
		c.next(at, err)
		if opened || tries >= len(c.bases) {
			break
		}
		probe = false
	}
	var ue *UnreachableError
	if errors.As(err, &ue) {
		_, _, _, ue.wait = c.brk.status()
		ue.wait = max(ue.wait, c.brk.opts.BackoffMin)
	}
	return err
}

// attempt is one exchange with the replica calls go to now, judged for
// the breaker; opened says it opened the circuit.
func (c *Client) attempt(ctx context.Context, k callKind, wait time.Duration, probe bool, exchange func(context.Context) error) (outcome, bool, error) {
	cctx, cancel := context.WithTimeout(ctx, c.timeout(k, wait))
	err := exchange(cctx)
	deadline := cctx.Err() != nil
	cancel()
	o := outcomeOf(ctx, deadline, err)
	if o == timedOut && k == readyCall {
		o = failed
	}
	opened, closed := c.brk.done(probe, o, err)
	switch {
	case opened:
		c.opts.Logger.Warn("the central ledger is not reachable; failing calls at once and probing it with backoff", "err", err)
	case closed:
		_, since, _, _ := c.brk.status()
		c.opts.Logger.Info("the central ledger is reachable again", "unreachable_for", c.brk.opts.Now().Sub(since).Round(time.Millisecond))
	}
	return o, opened, err
}

// outcomeOf judges a call: deadline says whether its own deadline passed.
func outcomeOf(ctx context.Context, deadline bool, err error) outcome {
	var ue *UnreachableError
	switch {
	case err == nil:
		return answered
	case ctx.Err() != nil:
		return abandoned
	case !errors.As(err, &ue):
		return answered
	case deadline:
		return timedOut
	}
	return failed
}

// exchange sends one request with the session token, signing in first
// when there is none and once more when the ledger no longer knows it.
func (c *Client) exchange(ctx context.Context, method, path string, in, out any) error {
	for attempt := 0; ; attempt++ {
		token, err := c.session(ctx)
		if err != nil {
			return err
		}
		status, err := c.send(ctx, method, path, token, in, out)
		if status == http.StatusUnauthorized && attempt == 0 {
			c.forget(token)
			continue
		}
		return err
	}
}

func (c *Client) session(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" {
		return c.token, nil
	}
	var ch challengeResponse
	if _, err := c.send(ctx, http.MethodGet, "/v1/challenge", "", nil, &ch); err != nil {
		return "", fmt.Errorf("ledgerhttp: sign in as %s: %w", c.id, err)
	}
	req := sessionRequest{Intermediary: c.id, Challenge: ch.Challenge, Signature: ed25519.Sign(c.key, sessionMessage(c.id, ch.Challenge))}
	var s sessionResponse
	if _, err := c.send(ctx, http.MethodPost, "/v1/session", "", req, &s); err != nil {
		return "", fmt.Errorf("ledgerhttp: sign in as %s: %w", c.id, err)
	}
	c.token = s.Token
	return c.token, nil
}

func (c *Client) forget(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == token {
		c.token = ""
	}
}

// send does one HTTP exchange and decodes the answer into out, or the
// service's error into a RemoteError. No answer is an *UnreachableError.
func (c *Client) send(ctx context.Context, method, path, token string, in, out any) (int, error) {
	req, err := c.request(ctx, method, path, token, in)
	if err != nil {
		return 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, noAnswer(method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, &UnreachableError{Method: method, Path: path, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		var e errorResponse
		if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
			return resp.StatusCode, &RemoteError{Code: e.Error.Code, Message: e.Error.Message}
		}
		err := fmt.Errorf("ledgerhttp: %s %s: %s", method, path, resp.Status)
		if gatewayStatus(resp.StatusCode) {
			err = &UnreachableError{Method: method, Path: path, Err: errors.New(resp.Status)}
		}
		return resp.StatusCode, err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return resp.StatusCode, fmt.Errorf("ledgerhttp: %s %s: bad answer: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

// request builds a request. An operation carries its op id as its
// Idempotency-Key, which lets net/http send it again by itself on a fresh
// connection when a kept-alive one turns out to have been closed before
// the request went out: the ledger applies an op id once.
func (c *Client) request(ctx context.Context, method, path, token string, in any) (*http.Request, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	base, _ := c.base()
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if ops, ok := in.(opsRequest); ok && len(ops.Ops) == 1 && ops.Ops[0].OpID != "" {
		req.Header.Set("Idempotency-Key", ops.Ops[0].OpID)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if id := reqid.From(ctx); id != "" {
		req.Header.Set(reqid.Header, id)
	}
	if seen := c.seen.Load(); seen > 0 {
		req.Header.Set(MinSeqHeader, strconv.FormatUint(seen, 10))
	}
	return req, nil
}

// noAnswer is the error of an exchange that got no answer: an
// *UnreachableError, unless the ledger's side answered in a way the bank
// cannot use until its operator changes something (a certificate it does
// not trust, a server that does not speak TLS): that is no outage to wait
// out, and no reason to stop calling.
func noAnswer(method, path string, err error) error {
	var (
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		record  tls.RecordHeaderError
	)
	if errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid) ||
		errors.As(err, &record) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return fmt.Errorf("ledgerhttp: %s %s: %w", method, path, err)
	}
	return &UnreachableError{Method: method, Path: path, Err: err}
}

// gatewayStatus is an HTTP status that something between the bank and the
// ledger answers with when the ledger does not: a proxy, a balancer.
func gatewayStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

package ledgerhttp

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/reqid"
)

// Client reaches the central ledger as one intermediary. It signs in by
// itself when it has no session or the ledger forgot it, and is safe for
// concurrent use.
type Client struct {
	base string
	id   ledger.AccountID
	key  ed25519.PrivateKey
	hc   *http.Client

	mu    sync.Mutex // protects token
	token string
}

// NewClient returns a client of the ledger at baseURL (such as
// "http://127.0.0.1:7400") acting as intermediary id with its key.
// A nil hc means http.DefaultClient.
func NewClient(baseURL string, id ledger.AccountID, key ed25519.PrivateKey, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), id: id, key: key, hc: hc}
}

// ID is the intermediary the client acts as.
func (c *Client) ID() ledger.AccountID { return c.id }

// RemoteError is an error the ledger service answered with. It wraps the
// ledger error with the same code, so errors.Is works across the network.
type RemoteError struct {
	Code    string
	Message string
}

func (e *RemoteError) Error() string { return e.Message }

func (e *RemoteError) Unwrap() error {
	if le := ledger.ErrorForCode(e.Code); le != nil {
		return le
	}
	if se := settlement.ErrorForCode(e.Code); se != nil {
		return se
	}
	return nil
}

// OpenAccount opens an account the intermediary serves.
func (c *Client) OpenAccount(ctx context.Context, opID string, spec ledger.AccountSpec) (ledger.Receipt, error) {
	return c.op(ctx, wireOp{Type: "open", OpID: opID, Account: &wireAccountSpec{ID: spec.ID, Kind: spec.Kind.String(),
		Intermediary: spec.Intermediary, Holder: spec.Holder, Limits: toWireLimits(spec.Limits)}})
}

// SetLimits sets the limits of a wallet the intermediary serves.
func (c *Client) SetLimits(ctx context.Context, opID string, id ledger.AccountID, lim ledger.Limits) (ledger.Receipt, error) {
	return c.op(ctx, wireOp{Type: "limits", OpID: opID, AccountID: id, Limits: &wireLimits{Holding: lim.Holding, Sweep: lim.Sweep}})
}

// CloseAccount closes an empty account the intermediary serves.
func (c *Client) CloseAccount(ctx context.Context, opID string, id ledger.AccountID) (ledger.Receipt, error) {
	return c.op(ctx, wireOp{Type: "close", OpID: opID, AccountID: id})
}

// Issue obtains new CBDC for the intermediary's float.
func (c *Client) Issue(ctx context.Context, opID string, amount int64) (ledger.Receipt, error) {
	return c.op(ctx, wireOp{Type: "issue", OpID: opID, Amount: amount})
}

// Redeem returns CBDC from the intermediary's float.
func (c *Client) Redeem(ctx context.Context, opID string, amount int64) (ledger.Receipt, error) {
	return c.op(ctx, wireOp{Type: "redeem", OpID: opID, Amount: amount})
}

// Transfer moves money out of an account the intermediary serves.
func (c *Client) Transfer(ctx context.Context, opID string, from, to ledger.AccountID, amount int64) (ledger.Receipt, error) {
	return c.op(ctx, wireOp{Type: "transfer", OpID: opID, Transfers: []wireTransfer{{from, to, amount}}})
}

// Batch applies transfers all or none.
func (c *Client) Batch(ctx context.Context, opID string, transfers []ledger.Transfer) (ledger.Receipt, error) {
	return c.op(ctx, wireOp{Type: "batch", OpID: opID, Transfers: toWireTransfers(transfers)})
}

func (c *Client) op(ctx context.Context, op wireOp) (ledger.Receipt, error) {
	var resp opsResponse
	if err := c.call(ctx, http.MethodPost, "/v1/ops", opsRequest{Ops: []wireOp{op}}, &resp); err != nil {
		return ledger.Receipt{}, err
	}
	if len(resp.Results) != 1 {
		return ledger.Receipt{}, fmt.Errorf("ledgerhttp: %d results for one operation", len(resp.Results))
	}
	r := resp.Results[0]
	if r.Error != nil {
		return ledger.Receipt{}, &RemoteError{Code: r.Error.Code, Message: r.Error.Message}
	}
	return ledger.Receipt{OpID: r.OpID, Seq: r.Seq, Time: r.Time}, nil
}

// Account returns the intermediary's own account or one it serves.
func (c *Client) Account(ctx context.Context, id ledger.AccountID) (ledger.Account, error) {
	var a ledger.Account
	err := c.call(ctx, http.MethodGet, "/v1/accounts/"+url.PathEscape(string(id)), nil, &a)
	return a, err
}

// History pages through an account's operations, newest first.
func (c *Client) History(ctx context.Context, id ledger.AccountID, cursor uint64, limit int) ([]ledger.Event, uint64, error) {
	q := url.Values{"cursor": {strconv.FormatUint(cursor, 10)}, "limit": {strconv.Itoa(max(limit, 0))}}
	var h historyResponse
	err := c.call(ctx, http.MethodGet, "/v1/accounts/"+url.PathEscape(string(id))+"/history?"+q.Encode(), nil, &h)
	return h.Events, h.Next, err
}

// Holder returns a holder's position across every bank, when the
// intermediary serves at least one of its open wallets.
func (c *Client) Holder(ctx context.Context, h ledger.HolderID) (ledger.Holding, error) {
	var out ledger.Holding
	err := c.call(ctx, http.MethodGet, "/v1/holders/"+url.PathEscape(string(h)), nil, &out)
	return out, err
}

// Totals returns the money by kind across the ledger.
func (c *Client) Totals(ctx context.Context) (ledger.Totals, error) {
	var t ledger.Totals
	err := c.call(ctx, http.MethodGet, "/v1/totals", nil, &t)
	return t, err
}

// call sends one request with the session token, signing in first when
// there is none and once more when the ledger no longer knows it.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
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
// service's error into a RemoteError.
func (c *Client) send(ctx context.Context, method, path, token string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if id := reqid.From(ctx); id != "" {
		req.Header.Set(reqid.Header, id)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("ledgerhttp: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode != http.StatusOK {
		var e errorResponse
		if dec.Decode(&e) != nil || e.Error.Code == "" {
			return resp.StatusCode, fmt.Errorf("ledgerhttp: %s %s: %s", method, path, resp.Status)
		}
		return resp.StatusCode, &RemoteError{Code: e.Error.Code, Message: e.Error.Message}
	}
	if err := dec.Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("ledgerhttp: %s %s: bad answer: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

package bankadmin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// Client calls one bank's admin API with its admin token. It is safe for
// concurrent use.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// New calls the bank served at baseURL (such as http://127.0.0.1:7501)
// with its admin token. A nil hc gets a client with a 30-second timeout.
// Redirects are not followed: the admin API answers none, and the token
// goes only to the address given.
func New(baseURL, token string, hc *http.Client) *Client {
	c := http.Client{Timeout: 30 * time.Second}
	if hc != nil {
		c = *hc
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// A token read from its file keeps the file's newline.
	return &Client{base: strings.TrimSuffix(baseURL, "/"), token: strings.TrimSpace(token), hc: &c}
}

// maxAnswer bounds an answer's body: a full page of 1,000 customers with
// 10 wallets each is about 2 MB.
const maxAnswer = 8 << 20

// Status reports the bank's position: its float, reserves, deposits and
// books (GET /admin/status).
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.call(ctx, http.MethodGet, "/admin/status", nil, &s)
	return s, err
}

// Tiers lists the bank's KYC tiers in order; the first is the tier of a
// customer onboarded without one (GET /admin/tiers).
func (c *Client) Tiers(ctx context.Context) ([]protocol.Tier, error) {
	var ts []protocol.Tier
	err := c.call(ctx, http.MethodGet, "/admin/tiers", nil, &ts)
	return ts, err
}

// Customers lists up to limit customers in the order they were opened,
// starting after the customer id after ("" for the first page): the last
// id of a page gives the next, and a page shorter than limit is the last.
// A limit outside 1 to 1000 lets the bank choose, 100. An after that is
// no customer's id is refused with bad_customer (GET /admin/customers).
func (c *Client) Customers(ctx context.Context, after string, limit int) ([]CustomerInfo, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if after != "" {
		q.Set("after", after)
	}
	path := "/admin/customers"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var page CustomerPage
	err := c.call(ctx, http.MethodGet, path, nil, &page)
	return page.Customers, err
}

// AppWallets lists the wallets that have signed in from a browser (the
// bank's wallet app) since the bank started, first sign-in first
// (GET /admin/app-wallets).
func (c *Client) AppWallets(ctx context.Context) ([]AppWallet, error) {
	var list AppWalletList
	err := c.call(ctx, http.MethodGet, "/admin/app-wallets", nil, &list)
	return list.Wallets, err
}

// Onboard opens a customer whose identity the bank checked, with a linked
// deposit account holding spec.Deposit and a wallet for each public key,
// each opened at the central ledger (POST /admin/customers). Nothing is
// stored when it is refused: bad_customer (a name or person id missing,
// no such tier, a person who is a customer already), invalid_amount,
// bad_public_key, wallet_exists. Unavailable means the central ledger did
// not answer: nothing was stored, and the same spec can be sent again.
func (c *Client) Onboard(ctx context.Context, spec CustomerSpec) (CustomerInfo, error) {
	if spec.Unverified {
		return CustomerInfo{}, errors.New("bankadmin: the admin API onboards customers whose identity the bank checked, not unverified ones")
	}
	var ci CustomerInfo
	err := c.call(ctx, http.MethodPost, "/admin/customers", spec, &ci)
	return ci, err
}

// Customer returns a customer with its deposit balance and wallets. An id
// that is no customer's is refused with bad_customer
// (GET /admin/customers/{id}).
func (c *Client) Customer(ctx context.Context, id string) (CustomerInfo, error) {
	path, err := customerPath(id, "")
	if err != nil {
		return CustomerInfo{}, err
	}
	var ci CustomerInfo
	err = c.call(ctx, http.MethodGet, path, nil, &ci)
	return ci, err
}

// AddWallet opens another wallet for a customer, with its tier and holder
// token, waterfall on (POST /admin/customers/{id}/wallets). Refusals:
// bad_customer, bad_public_key, wallet_exists.
func (c *Client) AddWallet(ctx context.Context, customerID string, pub ed25519.PublicKey) (WalletInfo, error) {
	path, err := customerPath(customerID, "/wallets")
	if err != nil {
		return WalletInfo{}, err
	}
	var wi WalletInfo
	err = c.call(ctx, http.MethodPost, path, WalletRequest{PublicKey: pub}, &wi)
	return wi, err
}

// SetTier moves a customer to another KYC tier, and the central ledger
// holds each of its wallets to the tier's holding limit; it is safe to
// repeat (PUT /admin/customers/{id}/tier). No such customer or tier is
// bad_customer.
func (c *Client) SetTier(ctx context.Context, customerID, tier string) (CustomerInfo, error) {
	path, err := customerPath(customerID, "/tier")
	if err != nil {
		return CustomerInfo{}, err
	}
	var ci CustomerInfo
	err = c.call(ctx, http.MethodPut, path, TierRequest{Tier: tier}, &ci)
	return ci, err
}

// CreditDeposit pays amount yen from outside the sandbox (a salary, cash
// at a branch) into a customer's deposit account: bank money, not CBDC
// (POST /admin/customers/{id}/deposit). Calling again with the same
// requestID answers the first credit and never pays twice; the same id
// for another customer or amount is refused with request_id_reused.
func (c *Client) CreditDeposit(ctx context.Context, requestID, customerID string, amount int64) (DepositCredit, error) {
	path, err := customerPath(customerID, "/deposit")
	if err != nil {
		return DepositCredit{}, err
	}
	var dc DepositCredit
	err = c.call(ctx, http.MethodPost, path, DepositCreditRequest{RequestID: requestID, Amount: amount}, &dc)
	return dc, err
}

// IssueFloat obtains amount yen of new CBDC for the bank's float against
// its reserves, and returns the bank's position afterwards
// (POST /admin/float/issue). With a requestID, calling again after a lost
// answer issues once; with "", every call issues again.
func (c *Client) IssueFloat(ctx context.Context, requestID string, amount int64) (Status, error) {
	return c.moveFloat(ctx, "/admin/float/issue", requestID, amount)
}

// RedeemFloat returns amount yen of the float to the central bank, which
// credits the bank's reserves, and returns the bank's position afterwards
// (POST /admin/float/redeem). More than the float holds is
// insufficient_funds. A requestID works as in IssueFloat.
func (c *Client) RedeemFloat(ctx context.Context, requestID string, amount int64) (Status, error) {
	return c.moveFloat(ctx, "/admin/float/redeem", requestID, amount)
}

func (c *Client) moveFloat(ctx context.Context, path, requestID string, amount int64) (Status, error) {
	req := FloatRequest{Amount: amount}
	if requestID != "" {
		req.RequestID = &requestID
	}
	var s Status
	err := c.call(ctx, http.MethodPost, path, req, &s)
	return s, err
}

// customerPath is the path of a customer's route. An id that cannot be
// one path segment would reach another route (".." is the parent), so it
// is refused here as the bank refuses an unknown id.
func customerPath(id, rest string) (string, error) {
	if id == "" || id == "." || id == ".." {
		return "", &protocol.Error{Code: protocol.CodeBadCustomer, Message: fmt.Sprintf("%q is not a customer id", id)}
	}
	return "/admin/customers/" + url.PathEscape(id) + rest, nil
}

// call sends in as JSON (none when nil) and decodes the answer into out.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	// Failures name the whole address: a wrong base address is their
	// likeliest cause.
	where := method + " " + c.base + path
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("bankadmin: %s: %w", where, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("bankadmin: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	switch {
	case err != nil:
		return fmt.Errorf("bankadmin: %s: %s: reading the answer: %w", where, resp.Status, err)
	case len(raw) > maxAnswer:
		return fmt.Errorf("bankadmin: %s: %s: the answer is over %d bytes", where, resp.Status, maxAnswer)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error *protocol.Error `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != nil && e.Error.Code != "" {
			return e.Error
		}
		if loc := resp.Header.Get("Location"); loc != "" {
			return fmt.Errorf("bankadmin: %s: %s to %s (is the bank's address right?)", where, resp.Status, snippet([]byte(loc)))
		}
		return fmt.Errorf("bankadmin: %s: %s: %s", where, resp.Status, snippet(raw))
	}
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		err = errors.New("null is no answer") // it would decode into a zero answer
	} else {
		err = json.Unmarshal(raw, out)
	}
	if err != nil {
		return fmt.Errorf("bankadmin: %s: %s: the answer is not the admin API's JSON (%v): %s", where, resp.Status, err, snippet(raw))
	}
	return nil
}

// snippet is the start of a body that is not the API's, fit for one line
// of an error.
func snippet(raw []byte) string {
	const max = 200
	s := strings.ToValidUTF8(string(bytes.TrimSpace(raw)), "?")
	if s == "" {
		return "(no body)"
	}
	cut := len(s) > max
	if cut {
		s = strings.ToValidUTF8(s[:max], "")
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if cut {
		s += "…"
	}
	return s
}

package ledgerhttp

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// Client reaches the central ledger as one intermediary. It signs in by
// itself when it has no session or the ledger forgot it, and is safe for
// concurrent use.
//
// A replicated ledger is reached through any of its replicas: the client
// keeps calling one until it answers not_leader or cannot be reached, and
// then turns to the next. An operation answered not_leader is in doubt,
// and its caller asks again under the same id, which the client sends to
// the next replica.
//
// Every call has a deadline: CallTimeout, or for a long poll the wait it
// asks for plus a little. A circuit breaker fails calls at once, with an
// *UnreachableError, while the ledger is not reachable, and lets a probe
// through now and then to find out when it is again (BreakerOptions).
type Client struct {
	bases []string     // one per replica of the ledger
	at    atomic.Int32 // the replica calls go to: the leader, as far as the client knows
	id    ledger.AccountID
	key   ed25519.PrivateKey
	hc    *http.Client
	opts  ClientOptions
	brk   *breaker

	mu    sync.Mutex // protects token
	token string

	// seen is the last journal record an answer showed this client: a
	// replica that has not applied it (a leader deposed without knowing
	// it yet) would answer reads from before what the client has seen.
	seen atomic.Uint64
}

// saw notes that record seq is in the journal.
func (c *Client) saw(seq uint64) {
	for {
		old := c.seen.Load()
		if seq <= old || c.seen.CompareAndSwap(old, seq) {
			return
		}
	}
}

// Deadlines of a client's calls.
const (
	DefaultCallTimeout  = 2 * time.Second  // a call, sign-in included
	DefaultReadyTimeout = time.Second      // a look at the ledger's /readyz
	DefaultSlowTimeout  = 10 * time.Second // a call that carries much work: reconciling an offline upload
	longPollGrace       = 5 * time.Second  // a long poll's deadline past the wait it asks for
)

// ClientOptions tune a Client. The zero value is ready to use.
type ClientOptions struct {
	// HTTP makes the exchanges; nil means a client over NewTransport(nil).
	// It needs no Timeout: each call has its own deadline. With one under
	// 30 s, long polls ask the ledger for shorter waits, so as not to be
	// cut short by it.
	HTTP *http.Client

	CallTimeout  time.Duration // DefaultCallTimeout when 0
	ReadyTimeout time.Duration // DefaultReadyTimeout when 0
	SlowTimeout  time.Duration // DefaultSlowTimeout when 0
	Breaker      BreakerOptions

	// Logger is told when the circuit opens and when it closes; none
	// when nil.
	Logger *slog.Logger
}

// NewClient returns a client of the ledger at baseURL (such as
// "http://127.0.0.1:7400"), or of a replicated ledger at any of several
// comma-separated URLs, acting as intermediary id with its key.
// A nil hc means a client over NewTransport(nil).
func NewClient(baseURL string, id ledger.AccountID, key ed25519.PrivateKey, hc *http.Client) *Client {
	return NewClientWith(baseURL, id, key, ClientOptions{HTTP: hc})
}

// NewClientWith is NewClient with options.
func NewClientWith(baseURL string, id ledger.AccountID, key ed25519.PrivateKey, opts ClientOptions) *Client {
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{Transport: NewTransport(nil)}
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	if opts.SlowTimeout <= 0 {
		opts.SlowTimeout = DefaultSlowTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{id: id, key: key, hc: opts.HTTP, opts: opts, brk: newBreaker(opts.Breaker)}
	for _, u := range strings.Split(baseURL, ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			c.bases = append(c.bases, u)
		}
	}
	if len(c.bases) == 0 {
		c.bases = []string{""} // every call then says the URL is missing
	}
	return c
}

// base is the replica calls go to now, and its place in the list.
func (c *Client) base() (string, int32) {
	i := c.at.Load()
	return c.bases[i], i
}

// turnsAway reports whether an answer from a replica means the client
// should try the next: it is not the leader, it cannot be reached, its
// ledger has failed or stopped, or it refuses the bank's sign-in (its
// credentials are not the others'). Every one of these leaves the
// operation in doubt, so asking the next replica under the same id is
// safe.
func turnsAway(err error) bool {
	var ue *UnreachableError
	if errors.As(err, &ue) {
		return !errors.Is(err, ErrCircuitOpen)
	}
	var re *RemoteError
	if !errors.As(err, &re) {
		return false
	}
	switch re.Code {
	case ledger.ErrNotLeader.Code, ledger.ErrStorage.Code, ledger.ErrCorrupt.Code, ledger.ErrClosed.Code, "unauthenticated":
		return true
	}
	return false
}

// next turns from replica i, which is not the leader or cannot be
// reached, to the one after it, unless another call has turned already.
// The session was the old replica's.
func (c *Client) next(i int32, why error) {
	if len(c.bases) < 2 || !c.at.CompareAndSwap(i, (i+1)%int32(len(c.bases))) {
		return
	}
	c.mu.Lock()
	c.token = ""
	c.mu.Unlock()
	c.opts.Logger.Info("turning to the next replica of the central ledger", "from", c.bases[i], "to", c.bases[(i+1)%int32(len(c.bases))], "why", why)
}

// Replica is the URL of the replica calls go to now.
func (c *Client) Replica() string {
	b, _ := c.base()
	return b
}

// ID is the intermediary the client acts as.
func (c *Client) ID() ledger.AccountID { return c.id }

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
	_, at := c.base()
	if err := c.call(ctx, http.MethodPost, "/v1/ops", opsRequest{Ops: []wireOp{op}}, &resp); err != nil {
		return ledger.Receipt{}, err
	}
	if len(resp.Results) != 1 {
		return ledger.Receipt{}, fmt.Errorf("ledgerhttp: %d results for one operation", len(resp.Results))
	}
	r := resp.Results[0]
	if r.Error != nil {
		err := &RemoteError{Code: r.Error.Code, Message: r.Error.Message}
		if turnsAway(err) {
			c.next(at, err)
		}
		return ledger.Receipt{}, err
	}
	c.saw(r.Seq)
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

package wallet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/gorilla/websocket"
)

// ErrClosed means the connection to the bank is gone; reconnect with Dial
// and retry an instruction with the same request id.
var ErrClosed = errors.New("wallet: connection to the bank closed")

// Client is a wallet's session with its bank. It is safe for concurrent
// use: requests may be in flight at once and are matched to their answers
// by request id.
type Client struct {
	conn    *websocket.Conn
	key     ed25519.PrivateKey
	bank    string // the bank it must be, when the caller said
	welcome protocol.Welcome

	writeMu sync.Mutex // one writer at a time, as gorilla requires

	mu      sync.Mutex // protects pending and err
	pending map[string]chan protocol.Envelope
	err     error

	events  chan protocol.Envelope
	dropped atomic.Int64
	done    chan struct{}
	prefix  string
	counter atomic.Uint64
}

// DialOptions tune a connection. The zero value is ready to use.
type DialOptions struct {
	// Bank is the id of the bank the wallet means to reach, such as
	// "bank-1". When set, a server whose challenge names another bank is
	// refused before anything is signed: without TLS, that is what stops a
	// server from relaying another bank's challenge to sign in as the
	// wallet there.
	Bank string

	Header http.Header // extra handshake headers, such as Origin
	Dialer *websocket.Dialer
	Events int // pushed messages buffered for Events; 1024 when 0
}

// Dial connects to the bank at url (ws://host:port/v1/wallet) and opens a
// session for a registered wallet.
func Dial(ctx context.Context, url string, key ed25519.PrivateKey, opts DialOptions) (*Client, error) {
	return open(ctx, url, key, opts, protocol.TypeHello, hello)
}

// OpenSession opens a session for a registered wallet as Dial does, and
// returns the websocket for the caller to drive itself, such as a load
// generator that reads answers its own way. Messages the bank pushes
// before its welcome are dropped.
func OpenSession(ctx context.Context, url string, key ed25519.PrivateKey, opts DialOptions) (*websocket.Conn, protocol.Welcome, error) {
	opts.Events = 1
	c, err := connect(ctx, url, key, opts, protocol.TypeHello, hello)
	if err != nil {
		return nil, protocol.Welcome{}, err
	}
	return c.conn, c.welcome, nil
}

func hello(ch protocol.Challenge, pub []byte, sig []byte) any {
	return protocol.Hello{PublicKey: pub, Challenge: ch.Challenge, Signature: sig}
}

// Register connects to the bank at url, onboards a new customer with this
// key as its wallet (at the bank's lowest KYC tier) and opens a session.
func Register(ctx context.Context, url string, key ed25519.PrivateKey, name, personID string, opts DialOptions) (*Client, error) {
	return open(ctx, url, key, opts, protocol.TypeRegister, func(ch protocol.Challenge, pub []byte, sig []byte) any {
		return protocol.Register{PublicKey: pub, Name: name, PersonID: personID, Challenge: ch.Challenge, Signature: sig}
	})
}

// defaultDialer is websocket.DefaultDialer with its write buffers lent
// from a pool while a message is written: a simulation holds thousands
// of mostly idle wallets, and each would otherwise keep 4 KiB it rarely
// uses.
var defaultDialer = &websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: 45 * time.Second,
	WriteBufferPool: &sync.Pool{}}

// open signs in as connect does and starts reading the connection.
func open(ctx context.Context, url string, key ed25519.PrivateKey, opts DialOptions, typ string,
	body func(protocol.Challenge, []byte, []byte) any) (*Client, error) {
	c, err := connect(ctx, url, key, opts, typ, body)
	if err != nil {
		return nil, err
	}
	go c.readLoop()
	return c, nil
}

// connect dials the bank and signs in, without reading the connection
// afterwards.
func connect(ctx context.Context, url string, key ed25519.PrivateKey, opts DialOptions, typ string,
	body func(protocol.Challenge, []byte, []byte) any) (*Client, error) {
	d := opts.Dialer
	if d == nil {
		d = defaultDialer
	}
	conn, resp, err := d.DialContext(ctx, url, opts.Header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("wallet: connect to %s: %w (HTTP %s)", url, err, resp.Status)
		}
		return nil, fmt.Errorf("wallet: connect to %s: %w", url, err)
	}
	conn.SetReadLimit(protocol.MaxMessageBytes)
	if opts.Events <= 0 {
		opts.Events = 1024
	}
	c := &Client{conn: conn, key: key, bank: opts.Bank, pending: map[string]chan protocol.Envelope{},
		events: make(chan protocol.Envelope, opts.Events), done: make(chan struct{}), prefix: randomPrefix()}
	if err := c.handshake(ctx, typ, body); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) handshake(ctx context.Context, typ string, body func(protocol.Challenge, []byte, []byte) any) error {
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetReadDeadline(dl)
		defer c.conn.SetReadDeadline(time.Time{})
	}
	var ch protocol.Challenge
	if err := c.readExpect(protocol.TypeChallenge, &ch); err != nil {
		return err
	}
	if c.bank != "" && ch.Bank != c.bank {
		return fmt.Errorf("wallet: the server is %q, not the bank %q this wallet asked for", ch.Bank, c.bank)
	}
	pub := c.key.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(c.key, protocol.SessionBytes(ch.Bank, ch.Challenge, pub))
	msg, err := protocol.Encode(typ, "open", body(ch, pub, sig))
	if err != nil {
		return err
	}
	if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
		return fmt.Errorf("wallet: %s: %w", typ, err)
	}
	if err := c.readExpect(protocol.TypeWelcome, &c.welcome); err != nil {
		return err
	}
	// Instructions are signed for this address: it must be the key's at
	// the bank the session was signed for.
	if want := protocol.WalletAddress(pub, ch.Bank); c.welcome.Wallet != want {
		return fmt.Errorf("wallet: the bank says this wallet is %q; its key at %s is %q", c.welcome.Wallet, ch.Bank, want)
	}
	return nil
}

// readExpect reads messages during the handshake until typ or an error
// comes; pushed messages on the way go to Events.
func (c *Client) readExpect(typ string, out any) error {
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return fmt.Errorf("wallet: waiting for %s: %w", typ, err)
		}
		var env protocol.Envelope
		if err := json.Unmarshal(data, &env); err != nil {
			return fmt.Errorf("wallet: bad message from the bank: %w", err)
		}
		if env.ID == "" && env.Type != typ && env.Type != protocol.TypeError {
			select {
			case c.events <- env:
			default:
				c.dropped.Add(1)
			}
			continue
		}
		return decodeAnswer(env, typ, out)
	}
}

// decodeAnswer turns an answer into out, or into the bank's error.
func decodeAnswer(env protocol.Envelope, typ string, out any) error {
	if env.Type == protocol.TypeError {
		var e protocol.Error
		if err := json.Unmarshal(env.Body, &e); err != nil {
			return fmt.Errorf("wallet: unreadable error from the bank: %w", err)
		}
		return &e
	}
	if env.Type != typ {
		return fmt.Errorf("wallet: the bank answered %q, expected %q", env.Type, typ)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(env.Body, out); err != nil {
		return fmt.Errorf("wallet: bad %s answer: %w", typ, err)
	}
	return nil
}

func (c *Client) readLoop() {
	defer close(c.done)
	var buf bytes.Buffer // reused: decoding copies what it keeps
	for {
		_, r, err := c.conn.NextReader()
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			c.fail(err)
			return
		}
		data := buf.Bytes()
		var env protocol.Envelope
		if json.Unmarshal(data, &env) != nil {
			continue
		}
		c.mu.Lock()
		ch, ok := c.pending[env.ID]
		delete(c.pending, env.ID)
		c.mu.Unlock()
		switch {
		case ok && env.ID != "":
			ch <- env
		case env.ID == "":
			select {
			case c.events <- env:
			default:
				c.dropped.Add(1)
			}
		}
	}
}

func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = fmt.Errorf("%w: %v", ErrClosed, err)
	}
}

// Err says why the connection ended, nil while it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Events delivers what the bank pushes: notify, payment_request,
// request_update and schedule_update. It is never closed; Done says when
// the connection ended. When the buffer is full, new events are dropped
// and counted by Dropped.
func (c *Client) Events() <-chan protocol.Envelope { return c.events }

// Dropped counts pushed events lost to a full Events buffer.
func (c *Client) Dropped() int64 { return c.dropped.Load() }

// Done is closed when the connection ends.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close ends the session.
func (c *Client) Close() error {
	c.writeMu.Lock()
	c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.writeMu.Unlock()
	err := c.conn.Close()
	<-c.done
	return err
}

// Address is the wallet's address, which payers pay to.
func (c *Client) Address() string { return c.welcome.Wallet }

// Welcome is what the bank said when the session opened.
func (c *Client) Welcome() protocol.Welcome { return c.welcome }

// NewRequestID returns a fresh request id.
func (c *Client) NewRequestID() string {
	return c.prefix + "-" + fmt.Sprint(c.counter.Add(1))
}

func randomPrefix() string {
	b := make([]byte, 10)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// Call sends one request and waits for its answer, decoding it into out.
// It is the building block of the typed methods; outside clients use it
// for raw protocol tests.
func (c *Client) Call(ctx context.Context, typ, id string, body any, answer string, out any) error {
	msg, err := protocol.Encode(typ, id, body)
	if err != nil {
		return err
	}
	return c.CallRaw(ctx, id, msg, answer, out)
}

// CallRaw sends an already encoded message with request id id and waits
// for its answer.
func (c *Client) CallRaw(ctx context.Context, id string, msg []byte, answer string, out any) error {
	ch := make(chan protocol.Envelope, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	c.pending[id] = ch
	c.mu.Unlock()
	c.writeMu.Lock()
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	err := c.conn.WriteMessage(websocket.TextMessage, msg)
	c.writeMu.Unlock()
	if err != nil {
		c.forget(id)
		return fmt.Errorf("%w: %v", ErrClosed, err)
	}
	select {
	case env := <-ch:
		return decodeAnswer(env, answer, out)
	case <-ctx.Done():
		c.forget(id)
		return ctx.Err()
	case <-c.done:
		return c.Err()
	}
}

func (c *Client) forget(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// signed signs an instruction of type typ and calls it.
func (c *Client) signed(ctx context.Context, typ, id string, m protocol.Signed, answer string, out any) error {
	protocol.Sign(c.key, typ, c.welcome.Wallet, id, m)
	return c.Call(ctx, typ, id, m, answer, out)
}

func (c *Client) id(id string) string {
	if id == "" {
		return c.NewRequestID()
	}
	return id
}

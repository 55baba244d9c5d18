package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// Hostile input against the ledger and two banks running as processes:
// each attempt is refused with a clear error, every process stays up, the
// wallets keep paying, and the books still balance.
func TestHostileInput_RunningServers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	led, banks, urls := startTwoBanks(t, dir)
	ledgerURL := led.waitFor(t, ledgerServing)[1]
	walletURL := urls["bank-1"]
	bankHTTP := "http://" + strings.TrimSuffix(strings.TrimPrefix(walletURL, "ws://"), protocol.Path)

	_, aliceKey, _ := ed25519.GenerateKey(nil)
	_, bobKey, _ := ed25519.GenerateKey(nil)
	alice := dialWallet(t, ctx, walletURL, aliceKey, "Alice", "P-ALICE")
	bob := dialWallet(t, ctx, urls["bank-2"], bobKey, "Bob", "P-BOB")
	withdraw(t, ctx, alice, 50_000)

	for _, tc := range []struct {
		name string
		try  func() error // nil when the attempt was refused as it should be
	}{
		{"bank admin call without a token", func() error {
			return wantHTTPError(http.Get(bankHTTP+"/admin/status"))(http.StatusUnauthorized, "")
		}},
		{"bank admin float issue with a wrong token", func() error {
			req, _ := http.NewRequest(http.MethodPost, bankHTTP+"/admin/float/issue", strings.NewReader(`{"amount":1000000000}`))
			req.Header.Set("Authorization", "Bearer not-the-token")
			return wantHTTPError(http.DefaultClient.Do(req))(http.StatusUnauthorized, "")
		}},
		{"ledger operation without signing in", func() error {
			return wantHTTPError(http.Post(ledgerURL+"/v1/ops", "application/json",
				strings.NewReader(`{"ops":[{"kind":"issue","amount":1000000}]}`)))(http.StatusUnauthorized, "unauthenticated")
		}},
		{"ledger sign-in with a forged signature", func() error {
			resp, err := http.Get(ledgerURL + "/v1/challenge")
			if err != nil {
				return err
			}
			var ch struct {
				Challenge []byte `json:"challenge"`
			}
			err = json.NewDecoder(resp.Body).Decode(&ch)
			resp.Body.Close()
			if err != nil || len(ch.Challenge) == 0 {
				return fmt.Errorf("no challenge from the ledger: %v", err)
			}
			body, _ := json.Marshal(map[string]any{"intermediary": "bank-1", "challenge": ch.Challenge,
				"signature": ed25519.Sign(aliceKey, ch.Challenge)})
			return wantHTTPError(http.Post(ledgerURL+"/v1/session", "application/json", strings.NewReader(string(body))))(http.StatusUnauthorized, "sign-in refused")
		}},
		{"ledger sign-in body over its bound", func() error {
			big := `{"ops":[` + strings.Repeat(`{"kind":"transfer","amount":1},`, 200_000) + `{}]}`
			return wantHTTPError(http.Post(ledgerURL+"/v1/session", "application/json", strings.NewReader(big)))(http.StatusRequestEntityTooLarge, "too_large")
		}},
		{"wallet websocket from a foreign origin", func() error {
			_, resp, err := websocket.DefaultDialer.Dial(walletURL, http.Header{"Origin": {"http://evil.example"}})
			return wantHTTPError(resp, err)(http.StatusForbidden, "")
		}},
		{"websocket frame over the size bound", func() error {
			c, _, err := openRaw(walletURL)
			if err != nil {
				return err
			}
			defer c.Close()
			c.WriteMessage(websocket.TextMessage, []byte(`{"v":1,"type":"balance","id":"big","body":"`+strings.Repeat("x", protocol.MaxMessageBytes)+`"}`))
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, _, err = c.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
				return fmt.Errorf("after an oversized frame: %v, want close 1009", err)
			}
			return nil
		}},
		{"websocket frames larger than a connection's read buffer", func() error {
			c, _, err := openRaw(walletURL)
			if err != nil {
				return err
			}
			defer c.Close()
			memo := strings.Repeat("x", protocol.MaxMessageBytes-200)
			c.WriteMessage(websocket.TextMessage, []byte(`{"v":1,"type":"pay","id":"big","body":{"to":"x@bank-2","amount":100,"memo":"`+memo+`"}}`))
			if err := expectCode(c, protocol.CodeNotAuthenticated); err != nil {
				return fmt.Errorf("a frame of %d bytes: %w", len(memo)+100, err)
			}
			c.WriteMessage(websocket.TextMessage, []byte(`not json`))
			return expectCode(c, protocol.CodeBadMessage)
		}},
		{"malformed frames", func() error {
			c, _, err := openRaw(walletURL)
			if err != nil {
				return err
			}
			defer c.Close()
			for _, f := range []struct {
				kind int
				msg  string
				code string
			}{
				{websocket.TextMessage, `not json`, protocol.CodeBadMessage},
				{websocket.BinaryMessage, `{"v":1,"type":"balance","id":"b"}`, protocol.CodeBadMessage},
				{websocket.TextMessage, `{"v":1,"type":"mint","id":"m"}`, protocol.CodeUnknownType},
				{websocket.TextMessage, `{"v":9,"type":"balance","id":"v"}`, protocol.CodeUnsupportedVersion},
				{websocket.TextMessage, `{"v":1,"type":"pay","id":"p","body":{"to":"x@bank-2","amount":100}}`, protocol.CodeNotAuthenticated},
				{websocket.TextMessage, `{"v":1,"type":"hello","id":"h","body":{"public_key":"AAAA","challenge":"AAAA","signature":"AAAA"}}`, protocol.CodeBadPublicKey},
			} {
				if err := c.WriteMessage(f.kind, []byte(f.msg)); err != nil {
					return err
				}
				if err := expectCode(c, f.code); err != nil {
					return fmt.Errorf("%s: %w", f.msg, err)
				}
			}
			return nil
		}},
		{"slow client holding half a request", func() error {
			// Twenty connections each send half a request header and stall:
			// the bank drops them once its header timeout passes.
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for range 20 {
				c, err := net.Dial("tcp", strings.TrimPrefix(bankHTTP, "http://"))
				if err != nil {
					return err
				}
				conns = append(conns, c)
				fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: bank\r\n", protocol.Path)
			}
			if _, err := alice.Balance(ctx); err != nil {
				return fmt.Errorf("a wallet could not be served while slow clients waited: %w", err)
			}
			for _, c := range conns {
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				if _, err := io.ReadAll(bufio.NewReader(c)); err != nil {
					return fmt.Errorf("a stalled connection was not dropped: %v", err)
				}
			}
			return nil
		}},
		{"connection flood from one address", func() (err error) {
			var open []*websocket.Conn
			defer func() {
				for _, c := range open {
					c.Close()
				}
				// The bank frees their places as it sees them close.
				for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
					if c, _, err := websocket.DefaultDialer.Dial(walletURL, nil); err == nil {
						c.Close()
						return
					}
				}
				if err == nil {
					err = errors.New("the bank still refuses connections 30 s after the flood closed")
				}
			}()
			var refused int
			for range intermediary.DefaultMaxWaitingPerAddress + 20 {
				c, resp, err := websocket.DefaultDialer.Dial(walletURL, nil)
				if err == nil {
					open = append(open, c)
					continue
				}
				if herr := wantHTTPError(resp, err)(http.StatusTooManyRequests, "have not signed in yet"); herr != nil {
					return herr
				}
				refused++
			}
			// Connections of the tests before may still be closing.
			if len(open) > intermediary.DefaultMaxWaitingPerAddress || refused < 20 {
				return fmt.Errorf("%d connections accepted and %d refused, want at most %d accepted", len(open), refused, intermediary.DefaultMaxWaitingPerAddress)
			}
			if _, err := alice.Balance(ctx); err != nil {
				return fmt.Errorf("a wallet signed in before the flood could not be served: %w", err)
			}
			return nil
		}},
		{"a reader that never reads", func() error {
			// A signed-in session sends requests and never reads the
			// answers: the bank closes it rather than queue without end.
			c, ch, err := openRaw(walletURL)
			if err != nil {
				return err
			}
			defer c.Close()
			pub := aliceKey.Public().(ed25519.PublicKey)
			hello, _ := protocol.Encode(protocol.TypeHello, "h", protocol.Hello{PublicKey: pub, Challenge: ch.Challenge,
				Signature: ed25519.Sign(aliceKey, protocol.SessionBytes(ch.Bank, ch.Challenge, pub))})
			c.WriteMessage(websocket.TextMessage, hello)
			var env protocol.Envelope
			if err := c.ReadJSON(&env); err != nil || env.Type != protocol.TypeWelcome {
				return fmt.Errorf("hello: %s %s %v", env.Type, env.Body, err)
			}
			frame := []byte(`{"v":1,"type":"mint","id":"x"}`)
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if err := c.WriteMessage(websocket.TextMessage, frame); err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						return fmt.Errorf("the bank stopped reading without closing the connection: %v", err)
					}
					return nil // the bank closed it
				}
			}
			return errors.New("the bank took a minute of frames from a client that reads nothing")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.try(); err != nil {
				t.Error(err)
			}
			for _, p := range append(banks, led) {
				if p.exit() != "still running" {
					t.Fatalf("%s stopped: %s", p.name, p.exit())
				}
			}
		})
	}

	// Everyone is still served, and nothing was lost or made.
	for _, base := range []string{ledgerURL, bankHTTP} {
		if err := wantHTTPError(http.Get(base+"/healthz"))(http.StatusOK, "ok"); err != nil {
			t.Errorf("%s/healthz: %v", base, err)
		}
	}
	pay(t, ctx, alice, bob, 12_000)
	if got := walletBalance(t, ctx, alice); got != 38_000 {
		t.Errorf("alice's balance = %d, want 38000", got)
	}
	alice.Close()
	bob.Close()
	for _, b := range banks {
		b.interrupt(t)
	}
	led.interrupt(t)
	out, errOut, code := cli(t, nil, "audit", dir)
	if code != 0 || !strings.Contains(out, "verdict: OK") || !regexp.MustCompile(`wallets\s+50000 yen`).MatchString(out) {
		t.Errorf("cbdc audit: exit status %d, want 0 with verdict OK and 50000 yen in wallets\n%s%s", code, out, errOut)
	}
}

// wantHTTPError checks an HTTP answer's status and that its body says
// what it should; call it on (response, error) pairs.
func wantHTTPError(resp *http.Response, err error) func(status int, says string) error {
	return func(status int, says string) error {
		if resp == nil {
			return fmt.Errorf("no answer: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != status {
			return fmt.Errorf("answered %s (%s), want %d", resp.Status, body, status)
		}
		if !strings.Contains(string(body), says) {
			return fmt.Errorf("answered %s with %q, which does not say %q", resp.Status, body, says)
		}
		return nil
	}
}

// openRaw opens a wallet websocket and reads its challenge.
func openRaw(url string) (*websocket.Conn, protocol.Challenge, error) {
	var ch protocol.Challenge
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return nil, ch, err
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var env protocol.Envelope
	if err := c.ReadJSON(&env); err != nil || json.Unmarshal(env.Body, &ch) != nil {
		c.Close()
		return nil, ch, fmt.Errorf("no challenge: %v", err)
	}
	return c, ch, nil
}

// expectCode reads the next message and requires an error with code.
func expectCode(c *websocket.Conn, code string) error {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var env protocol.Envelope
	if err := c.ReadJSON(&env); err != nil {
		return err
	}
	var e protocol.Error
	if env.Type != protocol.TypeError || json.Unmarshal(env.Body, &e) != nil || e.Code != code || e.Message == "" {
		return fmt.Errorf("answered %s %s, want error %s with a sentence", env.Type, env.Body, code)
	}
	return nil
}

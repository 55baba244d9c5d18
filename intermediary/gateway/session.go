package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/reqid"
	"github.com/gorilla/websocket"
)

// The wallet websocket follows gorilla's chat example: one reader and one
// writer goroutine per connection, the writer the only one to write, with
// write deadlines and pings; the reader with a read limit and a deadline
// the pongs push back. Requests run on their own goroutines, at most
// MaxInFlight per connection, so one slow payment does not hold up a
// balance query.

const (
	writeWait = 10 * time.Second
	pongWait  = 60 * time.Second
	sendQueue = 256 // messages queued for a slow reader before it is dropped
	drainWait = 10 * time.Second
	helloWait = 30 * time.Second // to say hello or register after connecting

	// A browser's session (a phone in the room) is pinged more often, so
	// that a phone switched to airplane mode shows offline on the
	// presenter's panel within seconds, not a minute.
	browserPongWait = 12 * time.Second
)

// pongWait is how long the session waits for a pong (data messages do
// not count, as docs/protocol.md says), and pingPeriod how often it
// pings: a browser's three times in that wait, so one slow pong on a
// phone's Wi-Fi does not end it.
func (s *session) pongWait() time.Duration {
	if s.browser {
		return browserPongWait
	}
	return pongWait
}

func (s *session) pingPeriod() time.Duration {
	if s.browser {
		return browserPongWait / 3
	}
	return pongWait * 9 / 10
}

type session struct {
	g         *Server
	conn      *websocket.Conn
	out       outbox
	closing   chan struct{} // closed to ask the session to end
	done      chan struct{} // closed when the reader has ended and handlers finished
	closeOnce sync.Once
	tooSlow   sync.Once
	challenge []byte
	remote    string // the client's network address, without the port
	browser   bool   // the websocket came with an Origin: a page's (see appWallets)
	waiting   bool   // counted in the hub as not yet signed in; protected by the hub's mu
	inflight  chan struct{}
	handlers  sync.WaitGroup         // requests being handled
	jobs      chan protocol.Envelope // to idle workers
	workers   int                    // started; owned by the reader

	// ctx is the session's, so requests' timeouts do not all contend on
	// the bank's context; cancelled once the handlers are done.
	ctx    context.Context
	cancel context.CancelFunc

	ansMu    sync.Mutex                                  // protects the fields below
	answered [2 * intermediary.DefaultMaxInFlight]uint64 // ledger sequences of recent answers, which stand in for notifications
	running  int                                         // requests being handled
	held     []held                                      // notifications that arrived while requests ran

	authed atomic.Bool // set once hello or register succeeded

	// w is the authenticated wallet; set by the reader before it starts
	// any handler that reads it.
	w *intermediary.Wallet
}

func (g *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser: nothing for an origin check to protect
	}
	if sameOrigin(r, origin) {
		return true // the bank's own wallet app (walletapp), served beside the websocket
	}
	for _, ok := range g.cfg.Origins {
		if origin == ok {
			return true
		}
	}
	g.logs.Logf(slog.LevelWarn, "foreign origin", "wallet connection from a foreign origin refused", "origin", origin)
	return false
}

// sameOrigin reports whether origin is the bank's own: the scheme the
// request came by and the host it was sent to, when that host is an IP
// address or localhost. A name is not trusted this way: a site whose name
// an attacker's DNS points at the bank's address (DNS rebinding) would
// have the bank's host and its own origin agree; a bank served under a
// name lists its origin in -origins.
func sameOrigin(r *http.Request, origin string) bool {
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	if origin != scheme+r.Host {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	return host == "localhost" || net.ParseIP(strings.Trim(host, "[]")) != nil
}

// clientAddress is the address connections are counted under: the host,
// or for IPv6 its /64, which one client usually holds whole.
func clientAddress(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() != nil {
		return host
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// serveWallet upgrades a request to a wallet session and runs it.
func (g *Server) serveWallet(w http.ResponseWriter, r *http.Request) {
	remote := clientAddress(r.RemoteAddr)
	if !g.hub.admitWaiting(remote, g.cfg.MaxWaitingPerAddress) {
		if n := g.floodRefusals.Add(1); g.floodLog.Allow(g.cfg.Now()) {
			g.log.Warn("wallet connections refused: too many from one address waiting to sign in", "limit", g.cfg.MaxWaitingPerAddress,
				"refused_so_far", n)
		}
		http.Error(w, fmt.Sprintf("too many connections from this address (%d) have not signed in yet; sign in on those or close them, then retry",
			g.cfg.MaxWaitingPerAddress), http.StatusTooManyRequests)
		return
	}
	conn, err := g.upgrader.Upgrade(w, r, nil)
	if err != nil {
		g.hub.releaseWaiting(remote)
		return // the upgrader has answered with the reason
	}
	s := &session{g: g, conn: conn, out: newOutbox(), closing: make(chan struct{}),
		done: make(chan struct{}), inflight: make(chan struct{}, g.cfg.MaxInFlight), challenge: make([]byte, 32),
		jobs: make(chan protocol.Envelope), remote: remote, waiting: true, browser: r.Header.Get("Origin") != ""}
	s.ctx, s.cancel = context.WithCancel(g.ctx)
	rand.Read(s.challenge)
	if !g.hub.connect(s) { // counts it in g.conns unless the bank is closing
		g.hub.releaseWaiting(remote)
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutting down"), time.Now().Add(time.Second))
		conn.Close()
		return
	}
	// A connection that does not open a session in time is closed, so
	// idle sockets cannot pile up.
	timer := time.AfterFunc(helloWait, func() {
		if !s.authed.Load() {
			s.shutdown()
		}
	})
	go s.writePump()
	s.reply(protocol.TypeChallenge, "", protocol.Challenge{Bank: string(g.id), Challenge: s.challenge})
	// The session reads on a goroutine of its own and the handler
	// returns, so the HTTP server lets go of what it kept for the
	// connection: a hijacked connection never uses its 4 KiB write
	// buffer again.
	go func() {
		defer g.conns.Done()
		defer timer.Stop()
		defer func() {
			if p := recover(); p != nil { // as the HTTP server would have: end this connection, not the bank
				g.log.Error("wallet connection's reader failed", "panic", p, "stack", string(debug.Stack()))
				conn.Close()
			}
		}()
		s.readPump()
	}()
}

func (s *session) readPump() {
	defer s.end()
	s.conn.SetReadLimit(protocol.MaxMessageBytes)
	wait := s.pongWait()
	s.conn.SetReadDeadline(time.Now().Add(wait))
	s.conn.SetPongHandler(func(string) error { return s.conn.SetReadDeadline(time.Now().Add(wait)) })
	for {
		kind, r, err := s.conn.NextReader()
		if err != nil {
			return // closed, timed out, or over the read limit (gorilla has sent close 1009)
		}
		buf := readBufs.Get().(*bytes.Buffer)
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			putReadBuf(buf)
			return
		}
		if kind != websocket.TextMessage {
			s.fail("", fail(protocol.CodeBadMessage, "messages are JSON text frames"))
		} else {
			s.handle(buf.Bytes()) // decoding copies what it keeps
		}
		putReadBuf(buf)
	}
}

// readBufs hold a message while it is decoded. A connection takes one only
// while a message arrives, so thousands of idle wallets hold none.
var readBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putReadBuf gives buf back unless a rare large message grew it.
func putReadBuf(buf *bytes.Buffer) {
	if buf.Cap() <= 8<<10 {
		readBufs.Put(buf)
	}
}

// end runs when the reader stops: wait for running requests, then let the
// writer flush and close.
func (s *session) end() {
	s.shutdown()
	s.handlers.Wait()
	close(s.jobs)
	s.cancel()
	close(s.done)
	s.g.hub.disconnect(s)
	if s.browser && s.w != nil {
		s.g.apps.left(s.w.KeyID(), s.g.cfg.Now())
	}
}

// shutdown asks the session to end: the reader stops at its next read.
func (s *session) shutdown() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.conn.SetReadDeadline(time.Now())
	})
}

func (s *session) writePump() {
	ticker := time.NewTicker(s.pingPeriod())
	defer func() {
		ticker.Stop()
		s.conn.Close()
	}()
	for {
		select {
		case <-s.out.ready:
			for _, msg := range s.out.take() {
				if !s.write(websocket.TextMessage, msg) {
					s.shutdown()
					return
				}
				s.out.wrote()
			}
		case <-ticker.C:
			if !s.write(websocket.PingMessage, nil) {
				s.shutdown()
				return
			}
		case <-s.done:
			if !s.drain() {
				return
			}
			s.write(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "session ended"))
			return
		}
	}
}

// drain writes what is still queued; false when the connection failed.
func (s *session) drain() bool {
	for _, msg := range s.out.take() {
		if !s.write(websocket.TextMessage, msg) {
			return false
		}
		s.out.wrote()
	}
	return true
}

func (s *session) write(kind int, data []byte) bool {
	s.conn.SetWriteDeadline(time.Now().Add(writeWait))
	return s.conn.WriteMessage(kind, data) == nil
}

// push queues a message for the writer. A client too slow to take its
// messages is disconnected rather than allowed to hold the bank up; it
// reconnects and asks again.
func (s *session) push(msg []byte) {
	select {
	case <-s.done:
		return
	default:
	}
	if !s.out.put(msg) {
		s.tooSlow.Do(func() { s.g.logs.Logf(slog.LevelWarn, "too slow", "wallet connection too slow to read; closing it") })
		s.shutdown()
	}
}

// outbox queues a session's messages for its writer, up to sendQueue
// not yet written. It holds only what waits: most sessions are idle, and
// a channel of sendQueue slots would keep 6 KiB for each.
type outbox struct {
	mu        sync.Mutex
	queue     [][]byte
	unwritten int           // queued, or taken by the writer and not yet written
	ready     chan struct{} // holds a token while queue is not empty
}

func newOutbox() outbox { return outbox{ready: make(chan struct{}, 1)} }

// put queues msg; false when sendQueue messages are unwritten already.
func (o *outbox) put(msg []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.unwritten >= sendQueue {
		return false
	}
	o.unwritten++
	o.queue = append(o.queue, msg)
	select {
	case o.ready <- struct{}{}:
	default:
	}
	return true
}

// take returns what is queued, in order, and empties the queue; the
// writer calls wrote for each message it has written.
func (o *outbox) take() [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.queue
	o.queue = nil
	return q
}

// wrote counts one taken message as written.
func (o *outbox) wrote() {
	o.mu.Lock()
	o.unwritten--
	o.mu.Unlock()
}

func (s *session) reply(typ, id string, body any) {
	msg, err := protocol.Encode(typ, id, body)
	if err != nil {
		msg, _ = protocol.Encode(protocol.TypeError, id, fail(protocol.CodeInternal, "could not encode the answer"))
	}
	s.push(msg)
}

func (s *session) fail(id string, err error) {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		s.g.logErr("wallet request failed", err, "id", id)
		pe = fail(protocol.CodeInternal, "the bank could not complete the request; retry with the same request id")
	}
	s.reply(protocol.TypeError, id, pe)
}

// errInternal is what a wallet is told of a failure the bank has logged.
var errInternal = fail(protocol.CodeInternal, "the bank could not complete the request; retry with the same request id")

// handle decodes one message and runs it. Session set-up runs on the
// reader itself, so nothing else runs before the wallet is known.
func (s *session) handle(data []byte) {
	env, perr := protocol.ReadEnvelope(data)
	if perr != nil {
		s.fail(env.ID, perr)
		return
	}
	known := intermediary.Handles(env.Type)
	switch {
	case env.Type == protocol.TypeHello || env.Type == protocol.TypeRegister:
		s.open(env)
		return
	case !known:
		s.fail(env.ID, fail(protocol.CodeUnknownType, "unknown message type %q", env.Type))
		return
	case s.w == nil:
		s.fail(env.ID, fail(protocol.CodeNotAuthenticated, "say hello (or register) first"))
		return
	}
	select {
	case s.inflight <- struct{}{}:
	default:
		s.fail(env.ID, fail(protocol.CodeBusy, "%d requests are already in flight on this connection", cap(s.inflight)))
		return
	}
	s.handlers.Add(1)
	s.dispatch(env)
}

// dispatch hands a request to an idle worker, or starts one. Workers live
// as long as the session, so a request does not pay for a new goroutine
// and its stack growth (signature checks need a deep stack); there are at
// most MaxInFlight of them, and when that many exist one is always about
// to be idle.
func (s *session) dispatch(j protocol.Envelope) {
	if s.workers >= cap(s.inflight) {
		s.jobs <- j
		return
	}
	select {
	case s.jobs <- j:
	default:
		s.workers++
		go s.work(j)
	}
}

// work runs jobs until the reader, the only sender, closes jobs. Workers
// never leave earlier, so a dispatch always finds one.
func (s *session) work(j protocol.Envelope) {
	for ok := true; ok; j, ok = <-s.jobs {
		s.run(j)
	}
}

func (s *session) run(j protocol.Envelope) {
	defer func() { <-s.inflight; s.handlers.Done() }()
	rid := reqid.ForWallet(string(s.g.id), s.w.KeyID(), j.ID)
	ctx, cancel := context.WithTimeout(reqid.With(s.ctx, rid), 30*time.Second)
	defer cancel()
	s.beginRequest()
	start := time.Now()
	typ, body, err := s.g.b.Answer(ctx, s.w, j.Type, j.ID, j.Body)
	took, code := time.Since(start), errorCode(err)
	if on := s.g.cfg.OnRequest; on != nil {
		on(j.Type, code, took)
	}
	switch code {
	case protocol.CodeInternal, protocol.CodeUnavailable:
		s.g.logs.Logf(slog.LevelWarn, "not completed:"+code, "wallet request not completed", "request_id", rid, "type", j.Type, "code", code, "err", err, "took", took)
		if code == protocol.CodeInternal {
			err = errInternal // logged here, with its request id
		}
	default:
		if s.g.log.Enabled(ctx, slog.LevelDebug) { // spare the hot path the log's allocations
			s.g.log.Debug("wallet request", "request_id", rid, "type", j.Type, "code", code, "took", took)
		}
	}
	if s.browser {
		s.g.apps.did(s.w.KeyID(), j.ID, j.Type, code, body, s.g.cfg.Now())
	}
	if err != nil {
		s.fail(j.ID, err)
		s.endRequest(0)
		return
	}
	s.reply(typ, j.ID, body)
	s.endRequest(answerSeq(body))
}

// errorCode is the protocol code of a failed request, "" for none.
func errorCode(err error) string {
	if err == nil {
		return ""
	}
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return "internal"
}

// answerSeq is the ledger sequence an answer reports, if any.
func answerSeq(body any) uint64 {
	switch a := body.(type) {
	case *protocol.Paid:
		return a.Seq
	case *protocol.Withdrawn:
		return a.Seq
	case *protocol.Deposited:
		return a.Seq
	case *protocol.PurseFunded:
		return a.Seq
	}
	return 0
}

// The session that sent an instruction learns of the money it moved from
// the answer; its wallet's other sessions get notifications. While a
// request runs, notifications for the session are held, and when it ends
// those of the record it was answered with are dropped.
type held struct {
	seq uint64
	msg []byte
}

func (s *session) beginRequest() {
	s.ansMu.Lock()
	s.running++
	s.ansMu.Unlock()
}

// endRequest records the ledger sequence the request was answered with
// (0 for none) and delivers the notifications held meanwhile.
func (s *session) endRequest(seq uint64) {
	s.ansMu.Lock()
	if seq != 0 {
		copy(s.answered[1:], s.answered[:len(s.answered)-1])
		s.answered[0] = seq
	}
	s.running--
	var out [][]byte
	if s.running == 0 {
		for _, h := range s.held {
			if !s.answeredLocked(h.seq) {
				out = append(out, h.msg)
			}
		}
		s.held = nil
	}
	s.ansMu.Unlock()
	for _, m := range out {
		s.push(m)
	}
}

// notify delivers a notification of the record at seq (0 for a push about
// no record), unless this session was answered with that record.
func (s *session) notify(seq uint64, msg []byte) {
	s.ansMu.Lock()
	switch {
	case s.answeredLocked(seq):
		msg = nil
	case s.running > 0 && len(s.held) >= sendQueue:
		msg = nil
		defer s.shutdown() // a client that never lets its requests finish is treated as too slow
	case s.running > 0:
		s.held = append(s.held, held{seq, msg})
		msg = nil
	}
	s.ansMu.Unlock()
	if msg != nil {
		s.push(msg)
	}
}

func (s *session) answeredLocked(seq uint64) bool {
	if seq == 0 {
		return false
	}
	for _, a := range s.answered {
		if a == seq {
			return true
		}
	}
	return false
}

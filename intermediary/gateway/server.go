// Package gateway serves an intermediary bank over HTTP: the wallet
// websocket (docs/protocol.md), the operator's admin API under /admin/
// and the health probes (docs/openapi.yaml). It sits above the bank's
// domain (package intermediary): it decodes nothing but envelopes, asks
// the bank to answer each request, and delivers the notifications the
// bank gives it as the bank's Notifier.
package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/internal/loglimit"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/walletapp"
	"github.com/gorilla/websocket"
)

// Server is one bank's gateway. New attaches it to the bank; the bank's
// Close closes it.
type Server struct {
	b    *intermediary.Bank
	cfg  intermediary.Config
	id   string
	log  *slog.Logger
	logs *loglimit.Limiter // the bank's, so one fault costs one line whichever side meets it

	hub      hub
	conns    sync.WaitGroup // wallet connections still open
	upgrader websocket.Upgrader

	floodRefusals atomic.Int64      // connections refused past MaxWaitingPerAddress
	apps          appWallets        // wallets signed in from a browser, for the room's panel of phones
	floodLog      loglimit.EveryFew // when the last refusal was logged

	// ctx is the parent of every session's; cancelled when the bank closes.
	ctx  context.Context
	stop context.CancelFunc
}

// writeBuffers lend connections their write buffers while they write.
var writeBuffers sync.Pool

// readBufferSize is each connection's read buffer.
const readBufferSize = 1024

// New makes the gateway of b and attaches it as b's notifier.
func New(b *intermediary.Bank) *Server {
	cfg := b.Config()
	g := &Server{b: b, cfg: cfg, id: string(b.ID()), log: b.Logger(), logs: b.Logs(),
		floodLog: loglimit.EveryFew{Period: 10 * time.Second}}
	g.ctx, g.stop = context.WithCancel(context.Background())
	// Most of a bank's connections are idle at any moment: each reads
	// through a 1 KiB buffer of its own (an instruction fits; a larger
	// message, such as a purse's upload, is read past it straight into
	// its frame), not the HTTP server's 4 KiB one, and takes a write
	// buffer from a pool only while it writes, as gorilla's chat example
	// does.
	g.upgrader = websocket.Upgrader{ReadBufferSize: readBufferSize, WriteBufferSize: 4096, WriteBufferPool: &writeBuffers, CheckOrigin: g.checkOrigin}
	g.hub.init(&g.conns)
	if !walletapp.Built() {
		g.log.Warn("the wallet app at " + walletapp.Path + " has no purse built in, so it cannot work: build with make (make purse-wasm)")
	}
	b.Attach(g)
	return g
}

// Close closes every wallet connection and waits, up to drainWait, for
// their requests to finish. The bank calls it when it closes.
func (g *Server) Close() {
	g.hub.closeAll()
	drained := make(chan struct{})
	go func() { g.conns.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(drainWait):
		g.log.Warn("wallet connections did not drain in time")
	}
	g.stop()
}

// Notify tells the wallet's sessions of a movement of its money.
func (g *Server) Notify(keyID string, e protocol.Entry) {
	g.apps.moved(keyID, e)
	g.hub.notify(keyID, e)
}

// Push sends an encoded message to every session of the wallet.
func (g *Server) Push(keyID string, msg []byte) { g.hub.push(keyID, msg) }

// Connections is the number of wallet connections open now.
func (g *Server) Connections() int { return g.hub.count() }

// FloodRefusals is the number of connections refused because their
// address had MaxWaitingPerAddress connections not yet signed in.
func (g *Server) FloodRefusals() int64 { return g.floodRefusals.Load() }

func (g *Server) logErr(what string, err error, args ...any) {
	g.logs.Logf(slog.LevelWarn, what, what, append(args, slog.Any("err", err))...)
}

func fail(code, format string, args ...any) *protocol.Error {
	return &protocol.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

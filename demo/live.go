package demo

import (
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// Event is one line of the event feed: a message from one party to
// another, drawn as an arrow of the sequence diagram. The page words it
// in the presenter's language from its kind and arguments (amounts in
// yen, names of wallets and banks); docs/demo.md lists the kinds.
type Event struct {
	Time  time.Time `json:"time"`
	From  string    `json:"from"` // a wallet, a bank, "ledger", "central bank", "presenter" or "simulator"
	To    string    `json:"to"`
	Kind  string    `json:"kind"`
	Args  Args      `json:"args,omitempty"`
	Error bool      `json:"error,omitempty"`
}

// Args are an event's particulars, by name.
type Args map[string]any

// message is what the live websocket carries: state (the overview),
// event, wallet (one wallet's view), payment (an offline
// payment), reconciliation, scenario, reset (the room started afresh),
// replicas (a replicated ledger's replicas and pauses) and phones (the
// wallets signed in from the banks' wallet app).
type message struct {
	Type           string          `json:"type"`
	State          *State          `json:"state,omitempty"`
	Event          *Event          `json:"event,omitempty"`
	Wallet         *WalletView     `json:"wallet,omitempty"`
	Payment        *OfflinePayment `json:"payment,omitempty"`
	Reconciliation *Reconciliation `json:"reconciliation,omitempty"`
	Run            *ScenarioRun    `json:"run,omitempty"`
	Reset          int64           `json:"reset,omitempty"` // a reset's number, so the page that asked for it knows it
	Replicas       *ReplicasView   `json:"replicas,omitempty"`
	Phones         *PhonesView     `json:"phones,omitempty"`
}

// hub fans messages out to the open pages and keeps the recent events and
// the ledger's throughput for pages that open later.
type hub struct {
	mu      sync.Mutex
	clients map[chan message]struct{}
	recent  []Event // the last maxRecent events
	seconds map[int64]*ThroughputPoint
	closed  bool
}

const (
	maxRecent   = 200
	clientQueue = 256
)

func newHub() *hub {
	return &hub{clients: map[chan message]struct{}{}, seconds: map[int64]*ThroughputPoint{}}
}

func (h *hub) listeners() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// send queues m for every page. A page too slow to keep up is cut off:
// it connects again and is sent the whole room, rather than miss a change.
func (h *hub) send(m message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		select {
		case c <- m:
		default:
			delete(h.clients, c)
			close(c)
		}
	}
}

// event records e for pages that open later and sends it to the open ones.
func (h *hub) event(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	h.mu.Lock()
	h.recent = append(h.recent, e)
	if len(h.recent) > maxRecent {
		h.recent = append([]Event(nil), h.recent[len(h.recent)-maxRecent:]...)
	}
	h.mu.Unlock()
	h.send(message{Type: "event", Event: &e})
}

// countOp adds a committed operation to its second of the throughput
// chart, which keeps the last minute.
func (h *hub) countOp(e ledger.Event) {
	sec := e.Time.Unix()
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.seconds[sec]
	if p == nil {
		p = &ThroughputPoint{T: sec}
		h.seconds[sec] = p
		for t := range h.seconds {
			if t < sec-60 {
				delete(h.seconds, t)
			}
		}
	}
	p.Ops++
	p.Transfers += len(e.Transfers)
}

// throughput is the last minute, a point a second, zeros included.
func (h *hub) throughput() []ThroughputPoint {
	now := time.Now().Unix()
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]ThroughputPoint, 0, 60)
	for t := now - 59; t <= now; t++ {
		p := ThroughputPoint{T: t}
		if q := h.seconds[t]; q != nil {
			p = *q
		}
		out = append(out, p)
	}
	return out
}

// forget drops the recent events, for a room that starts afresh.
func (h *hub) forget() {
	h.mu.Lock()
	h.recent = nil
	h.mu.Unlock()
}

func (h *hub) subscribe() (chan message, []Event) {
	c := make(chan message, clientQueue)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(c)
		return c, nil
	}
	h.clients[c] = struct{}{}
	return c, append([]Event(nil), h.recent...)
}

func (h *hub) unsubscribe(c chan message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		close(c)
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.clients {
		delete(h.clients, c)
		close(c)
	}
}

var upgrader = websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 8192}

// handleLive streams the overview, events and wallet changes to a page:
// first the recent events and the state, then everything as it happens.
func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil) // same-origin only: the default origin check
	if err != nil {
		return
	}
	defer conn.Close()
	c, recent := s.live.subscribe()
	defer s.live.unsubscribe(c)
	go func() { // the page sends nothing; reading notices it close
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				s.live.unsubscribe(c)
				return
			}
		}
	}()
	write := func(m message) error {
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return conn.WriteJSON(m)
	}
	for i := range recent {
		if write(message{Type: "event", Event: &recent[i]}) != nil {
			return
		}
	}
	if write(message{Type: "state", State: ptr(s.state(r.Context()))}) != nil {
		return
	}
	for _, v := range s.walletViews(r.Context()) {
		if write(message{Type: "wallet", Wallet: &v}) != nil {
			return
		}
	}
	for _, e := range s.roomLog() {
		m := message{Type: "payment", Payment: e.Payment}
		if e.Reconciliation != nil {
			m = message{Type: "reconciliation", Reconciliation: e.Reconciliation}
		}
		if write(m) != nil {
			return
		}
	}
	s.scen.mu.Lock()
	run := s.scen.run
	s.scen.mu.Unlock()
	if run != nil && write(message{Type: "scenario", Run: run}) != nil {
		return
	}
	for m := range c {
		if write(m) != nil {
			return
		}
	}
}

package gateway

import (
	"sync"

	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// hub knows every open connection and which sessions each wallet has, and
// pushes to them. For a connected wallet it also keeps the balance: read
// once from the ledger when its first session opens, then moved by every
// feed record after that read, so notifications carry the balance without
// asking the ledger.
type hub struct {
	open *sync.WaitGroup // counts the connections; the bank waits on it when closing

	mu       sync.Mutex // protects the fields below; taken before any session's ansMu, after any of the bank's locks
	conns    map[*session]struct{}
	sessions map[string]map[*session]struct{} // by wallet key id
	balances map[string]*liveBalance
	waiting  map[string]int // connections not yet signed in, by network address
	closed   bool
}

type liveBalance struct {
	known   bool
	balance int64
	asOf    uint64           // the ledger sequence the balance was read at
	applied uint64           // the newest ledger sequence applied since
	early   []protocol.Entry // movements seen before the balance was read
}

func (h *hub) init(open *sync.WaitGroup) {
	h.open = open
	h.conns = map[*session]struct{}{}
	h.sessions = map[string]map[*session]struct{}{}
	h.balances = map[string]*liveBalance{}
	h.waiting = map[string]int{}
}

// admitWaiting counts a new connection from addr as waiting to sign in;
// false when addr already has limit such connections.
func (h *hub) admitWaiting(addr string, limit int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waiting[addr] >= limit {
		return false
	}
	h.waiting[addr]++
	return true
}

// releaseWaiting ends the wait of one connection from addr.
func (h *hub) releaseWaiting(addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.release(addr)
}

func (h *hub) release(addr string) {
	if h.waiting[addr]--; h.waiting[addr] <= 0 {
		delete(h.waiting, addr)
	}
}

// signedIn ends the session's wait once it has said hello or registered.
func (h *hub) signedIn(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.waiting {
		s.waiting = false
		h.release(s.remote)
	}
}

// connect registers a new connection; false once the hub is closed.
func (h *hub) connect(s *session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.open.Add(1)
	h.conns[s] = struct{}{}
	return true
}

// disconnect forgets a connection and its wallet session.
func (h *hub) disconnect(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conns, s)
	if s.waiting {
		s.waiting = false
		h.release(s.remote)
	}
	if s.w == nil {
		return
	}
	set := h.sessions[s.w.KeyID()]
	delete(set, s)
	if len(set) == 0 {
		delete(h.sessions, s.w.KeyID())
		delete(h.balances, s.w.KeyID())
	}
}

// join makes s a session of its wallet. The caller then reads the balance
// and hands it to setBalance; movements in between are kept and applied.
func (h *hub) join(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	keyID := s.w.KeyID()
	set := h.sessions[keyID]
	if set == nil {
		set = map[*session]struct{}{}
		h.sessions[keyID] = set
	}
	set[s] = struct{}{}
	if h.balances[keyID] == nil {
		h.balances[keyID] = &liveBalance{}
	}
}

// setBalance records a balance read from the ledger as of seq.
func (h *hub) setBalance(keyID string, balance int64, asOf uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	lb := h.balances[keyID]
	if lb == nil || lb.known && max(lb.asOf, lb.applied) >= asOf {
		return // older than what the balance already includes
	}
	lb.known, lb.balance, lb.asOf = true, balance, asOf
	for _, e := range lb.early {
		lb.apply(e)
	}
	lb.early = nil
}

func (lb *liveBalance) apply(e protocol.Entry) {
	if e.Seq > lb.asOf {
		lb.balance += e.Amount
		lb.applied = max(lb.applied, e.Seq)
	}
}

// notify pushes a movement of money to the wallet's sessions, if any.
func (h *hub) notify(keyID string, e protocol.Entry) {
	h.mu.Lock()
	set := h.sessions[keyID]
	if len(set) == 0 {
		h.mu.Unlock()
		return
	}
	lb := h.balances[keyID]
	n := protocol.Notify{Entry: e}
	if lb.known {
		lb.apply(e)
		bal := lb.balance
		n.Balance = &bal
	} else {
		lb.early = append(lb.early, e)
	}
	targets := sessionsOf(set)
	h.mu.Unlock()
	msg, err := protocol.Encode(protocol.TypeNotify, "", n)
	if err != nil {
		return
	}
	for _, s := range targets {
		s.notify(e.Seq, msg)
	}
}

// push sends an already encoded message to every session of a wallet,
// held like a notification while a session's request runs.
func (h *hub) push(keyID string, msg []byte) {
	h.mu.Lock()
	targets := sessionsOf(h.sessions[keyID])
	h.mu.Unlock()
	for _, s := range targets {
		s.notify(0, msg)
	}
}

func sessionsOf(set map[*session]struct{}) []*session {
	out := make([]*session, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	return out
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// closeAll closes every connection and refuses new ones.
func (h *hub) closeAll() {
	h.mu.Lock()
	h.closed = true
	all := sessionsOf(h.conns)
	h.mu.Unlock()
	for _, s := range all {
		s.shutdown()
	}
}

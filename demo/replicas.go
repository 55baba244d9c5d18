package demo

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	sbx "github.com/digital-yen/cbdc-sandbox/sandbox"
	"github.com/digital-yen/cbdc-sandbox/wallet"
	"github.com/gorilla/websocket"
)

// Replicas is a replicated central ledger as the demo shows it and lets
// the presenter stop and start its replicas; *sandbox.Cluster is one.
type Replicas interface {
	Replicas() []sbx.ReplicaStatus
	StopLeader() (sbx.Stopped, error)
	Stop(id string) (sbx.Stopped, error)
	Start(ctx context.Context, id string) error
}

// ReplicasView is the replicated ledger as the page's Replicas panel
// shows it: each replica, the pause being measured after a stop, and the
// pauses measured before, newest first.
type ReplicasView struct {
	Replicas  []ReplicaView `json:"replicas"`
	Leader    string        `json:"leader,omitempty"` // "" while none leads
	Busy      string        `json:"busy,omitempty"`   // "stop" or "start" while the presenter's is under way
	Measuring *Pause        `json:"measuring,omitempty"`
	Pauses    []Pause       `json:"pauses"`
}

// ReplicaView is one replica.
type ReplicaView struct {
	ID           string     `json:"id"`
	Role         string     `json:"role"` // leader, follower, candidate or stopped
	Term         uint64     `json:"term"`
	CommitIndex  uint64     `json:"commit_index"`  // the last Raft entry it knows committed
	AppliedIndex uint64     `json:"applied_index"` // the last it applied to its journal
	Head         uint64     `json:"head"`          // its journal's last record (when it stopped, for a stopped one)
	StoppedAt    *time.Time `json:"stopped_at,omitempty"`
}

// Pause is what stopping a replica cost the payments: the time from the
// stop to the first payment taken after it, measured to the time the
// leader that took it stamped on its journal record (it is acknowledged
// once its batch is held by a majority, a few milliseconds later).
type Pause struct {
	Stopped string    `json:"stopped"` // the replica stopped
	Led     bool      `json:"led"`     // it was the leader
	At      time.Time `json:"at"`      // when it was stopped
	Head    uint64    `json:"head"`    // its journal's last record: later ones were committed without it
	// Set once measured:
	Resumed *time.Time `json:"resumed,omitempty"`  // the first payment after the stop
	PauseMS float64    `json:"pause_ms,omitempty"` // Resumed − At, in milliseconds
	Seq     uint64     `json:"seq,omitempty"`      // that payment's journal record
	Leader  string     `json:"leader,omitempty"`   // the replica leading when it was taken
	// Unmeasured: no payment was taken within pauseWait of the stop.
	Unmeasured bool `json:"unmeasured,omitempty"`
}

// Measured says the pause ended with a payment.
func (p Pause) Measured() bool { return p.Resumed != nil }

const (
	maxPauses     = 10              // measured pauses kept
	pauseWait     = 2 * time.Minute // how long a stop waits for a payment after it
	heartbeatTail = 3 * time.Second // how long the heartbeat pays on once the pause is measured, to show payments going on
)

// pauseMeter measures the pause after each stop, one at a time, from the
// operations the ledger's feed shows.
type pauseMeter struct {
	active atomic.Bool // a pause is open: the feed's operations are looked at
	mu     sync.Mutex  // protects the fields below
	open   *Pause
	ended  chan struct{} // closed when open ends
	done   []Pause       // newest first
}

// begin opens a measurement, or says which one is open already.
func (m *pauseMeter) begin(p Pause) (ended <-chan struct{}, busy *Pause) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.open != nil {
		o := *m.open
		return nil, &o
	}
	m.open, m.ended = &p, make(chan struct{})
	m.active.Store(true)
	return m.ended, nil
}

// observe ends the open measurement at e when e is a payment taken after
// the stop: a record the stopped replica never held, stamped after it
// stopped (records the old leader proposed before it stopped may commit
// under the new one; they were taken before the stop).
func (m *pauseMeter) observe(e ledger.Event, leader func() string) (Pause, bool) {
	if !m.active.Load() || e.Op != "transfer" && e.Op != "batch" {
		return Pause{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.open
	if p == nil || e.Seq <= p.Head || !e.Time.After(p.At) {
		return Pause{}, false
	}
	at := e.Time
	p.Resumed, p.PauseMS, p.Seq, p.Leader = &at, float64(at.Sub(p.At).Microseconds())/1000, e.Seq, leader()
	return m.end(), true
}

// giveUp ends the open measurement, if it is still the one begun at at,
// as unmeasured.
func (m *pauseMeter) giveUp(at time.Time) (Pause, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.open == nil || !m.open.At.Equal(at) {
		return Pause{}, false
	}
	m.open.Unmeasured = true
	return m.end(), true
}

// end files the open measurement; m.mu is held.
func (m *pauseMeter) end() Pause {
	p := *m.open
	m.done = append([]Pause{p}, m.done[:min(len(m.done), maxPauses-1)]...)
	m.open = nil
	m.active.Store(false)
	close(m.ended)
	return p
}

func (m *pauseMeter) view() (*Pause, []Pause) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var open *Pause
	if m.open != nil {
		o := *m.open
		open = &o
	}
	return open, slices.Clone(m.done)
}

// replicasView is the panel as it is now; nil for a lone ledger.
func (s *Server) replicasView() *ReplicasView {
	if s.cfg.Replicas == nil {
		return nil
	}
	v := &ReplicasView{Replicas: []ReplicaView{}}
	for _, r := range s.cfg.Replicas.Replicas() {
		rv := ReplicaView{ID: r.ID, Role: r.Role, Term: r.Term, CommitIndex: r.Commit, AppliedIndex: r.Applied, Head: r.Head}
		if !r.Running {
			rv.Role = "stopped"
			if !r.StoppedAt.IsZero() {
				rv.StoppedAt = ptr(r.StoppedAt)
			}
		}
		if rv.Role == "leader" {
			v.Leader = r.ID
		}
		v.Replicas = append(v.Replicas, rv)
	}
	v.Measuring, v.Pauses = s.meter.view()
	if v.Pauses == nil {
		v.Pauses = []Pause{}
	}
	s.replicaMu.Lock()
	v.Busy = s.replicaBusy
	s.replicaMu.Unlock()
	return v
}

// leaderID is the replica that leads now, "" when none does.
func (s *Server) leaderID() string {
	for _, r := range s.cfg.Replicas.Replicas() {
		if r.Running && r.Role == "leader" {
			return r.ID
		}
	}
	return ""
}

// pushReplicas sends the panel to every open page.
func (s *Server) pushReplicas() {
	if v := s.replicasView(); v != nil {
		s.live.send(message{Type: "replicas", Replicas: v})
	}
}

// watchReplicas tells the pages at once when a replica's role changes
// (an election, a stop, a start) and puts each new leader in the feed;
// the figures that change with every batch go with the overview, once
// a second.
func (s *Server) watchReplicas() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var roles, leader string // as last seen: every replica's role, and the last leader and its term
	for first := true; ; first = false {
		var b strings.Builder
		for _, r := range s.cfg.Replicas.Replicas() {
			fmt.Fprintf(&b, "%s:%v:%s:%d ", r.ID, r.Running, r.Role, r.Term)
			if now := fmt.Sprintf("%s:%d", r.ID, r.Term); r.Running && r.Role == "leader" && now != leader {
				if !first {
					s.live.event(Event{From: "ledger", To: "ledger", Kind: "replica_leader", Args: Args{"replica": r.ID, "term": r.Term}})
				}
				leader = now
			}
		}
		if b.String() != roles {
			roles = b.String()
			s.pushReplicas()
		}
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// replicaRequest is the body of the replica calls.
type replicaRequest struct {
	Replica string `json:"replica"` // a replica's id; "leader" for whichever leads (stop only)
}

// replicaCall reads a replica call's body and takes the presenter's one
// stop or start at a time, answering the error itself when it cannot.
func (s *Server) replicaCall(w http.ResponseWriter, r *http.Request, busy string) (replicaRequest, func(), bool) {
	var req replicaRequest
	if !readJSON(w, r, &req) {
		return req, nil, false
	}
	req.Replica = strings.TrimSpace(req.Replica)
	switch {
	case s.cfg.Replicas == nil:
		writeError(w, http.StatusConflict, "not_replicated",
			"this sandbox runs one lone central ledger, with no replicas to stop or start: run cbdc sandbox -replicas 3 to show them")
		return req, nil, false
	case req.Replica == "":
		writeError(w, http.StatusBadRequest, "bad_request", `name the replica, such as {"replica": "ledger-1"}, or {"replica": "leader"} to stop whichever leads`)
		return req, nil, false
	case !s.replicaOp.TryLock():
		writeError(w, http.StatusConflict, "replicas_busy", "a replica is being stopped or started already; try again when it is done")
		return req, nil, false
	}
	s.replicaMu.Lock()
	s.replicaBusy = busy
	s.replicaMu.Unlock()
	s.pushReplicas()
	return req, func() {
		s.replicaMu.Lock()
		s.replicaBusy = ""
		s.replicaMu.Unlock()
		s.replicaOp.Unlock()
		s.pushReplicas()
	}, true
}

// writeReplicaErr answers a refused stop or start.
func writeReplicaErr(w http.ResponseWriter, err error) {
	msg := strings.TrimPrefix(err.Error(), "sandbox: ")
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{sbx.ErrNoSuchReplica, http.StatusNotFound, "no_such_replica"},
		{sbx.ErrReplicaStopped, http.StatusConflict, "replica_stopped"},
		{sbx.ErrReplicaRunning, http.StatusConflict, "replica_running"},
		{sbx.ErrNoLeader, http.StatusConflict, "no_leader"},
		{sbx.ErrNoMajority, http.StatusConflict, "no_majority"},
		{sbx.ErrClusterClosed, http.StatusServiceUnavailable, "stopping"},
	} {
		if errors.Is(err, c.err) {
			writeError(w, c.status, c.code, "%s", msg)
			return
		}
	}
	writeError(w, http.StatusInternalServerError, "failed", "%s", msg)
}

func (s *Server) handleReplicas(w http.ResponseWriter, r *http.Request) {
	if v := s.replicasView(); v != nil {
		writeJSON(w, http.StatusOK, v)
		return
	}
	writeError(w, http.StatusConflict, "not_replicated", "this sandbox runs one lone central ledger, with no replicas: run cbdc sandbox -replicas 3 to show them")
}

// handleStopReplica stops a replica, the leader when asked for
// "leader", as if its machine failed, and measures the pause that
// follows: payments go on once the others have elected a leader (if it
// led) and the banks have turned to it.
func (s *Server) handleStopReplica(w http.ResponseWriter, r *http.Request) {
	req, done, ok := s.replicaCall(w, r, "stop")
	if !ok {
		return
	}
	defer done()
	if open, _ := s.meter.view(); open != nil {
		writeError(w, http.StatusConflict, "measuring", "the pause after %s stopped is still being measured: stop another once a payment has been taken", open.Stopped)
		return
	}
	// The heartbeat's wallets are made before the stop, while a leader
	// takes their onboarding.
	hctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	_, err := s.heartbeat.wallets(hctx, s.cfg.Banks)
	cancel()
	if err != nil {
		s.cfg.Log.Warn("demo: no heartbeat payments; the pause waits for the room's", "err", err)
	}
	stop := func() (sbx.Stopped, error) { return s.cfg.Replicas.Stop(req.Replica) }
	if req.Replica == "leader" {
		stop = s.cfg.Replicas.StopLeader
	}
	st, err := stop()
	if st.ID == "" {
		writeReplicaErr(w, err)
		return
	}
	if err != nil { // stopped, but not cleanly: say so in the log, and go on
		s.cfg.Log.Warn("demo: the stopped replica did not close cleanly", "replica", st.ID, "err", err)
	}
	p := Pause{Stopped: st.ID, Led: st.Led, At: st.At, Head: st.Head}
	ended, _ := s.meter.begin(p)
	s.live.event(Event{From: "presenter", To: "ledger", Kind: "replica_stop", Args: Args{"replica": st.ID, "led": st.Led}})
	s.wg.Go(func() { s.measure(p, ended) })
	writeJSON(w, http.StatusOK, s.replicasView())
}

// measure keeps payments going through the stop until the pause is
// measured and a little after, or gives up after pauseWait.
func (s *Server) measure(p Pause, ended <-chan struct{}) {
	ctx, cancel := context.WithTimeout(s.ctx, pauseWait)
	defer cancel()
	go func() {
		select {
		case <-ended:
			select {
			case <-time.After(heartbeatTail):
			case <-ctx.Done():
			}
			cancel()
		case <-ctx.Done():
		}
	}()
	s.heartbeat.pay(ctx, s.cfg.Banks, s.cfg.Log)
	<-ctx.Done()
	if q, ok := s.meter.giveUp(p.At); ok {
		s.live.event(Event{From: "ledger", To: "presenter", Kind: "replica_unmeasured", Args: Args{"replica": q.Stopped}})
		s.pushReplicas()
	}
}

// observePause ends the measurement at a payment taken after the stop.
func (s *Server) observePause(e ledger.Event) {
	p, ok := s.meter.observe(e, s.leaderID)
	if !ok {
		return
	}
	s.live.event(Event{From: "ledger", To: "presenter", Kind: "replica_pause",
		Args: Args{"replica": p.Stopped, "pause_ms": p.PauseMS, "leader": p.Leader, "seq": p.Seq, "led": p.Led}})
	s.pushReplicas()
}

// handleStartReplica starts a stopped replica again from its directory:
// it rejoins the group and catches up from the leader's log.
func (s *Server) handleStartReplica(w http.ResponseWriter, r *http.Request) {
	req, done, ok := s.replicaCall(w, r, "start")
	if !ok {
		return
	}
	defer done()
	if req.Replica == "leader" {
		writeError(w, http.StatusBadRequest, "bad_request", `a running replica leads: name the stopped replica to start, such as {"replica": "ledger-1"}`)
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
	defer cancel()
	if err := s.cfg.Replicas.Start(ctx, req.Replica); err != nil {
		writeReplicaErr(w, err)
		return
	}
	s.live.event(Event{From: "presenter", To: "ledger", Kind: "replica_start", Args: Args{"replica": req.Replica}})
	writeJSON(w, http.StatusOK, s.replicasView())
}

// heartbeat is two wallets of the demo's own, not in the room, that pay
// each other one yen at a time through their banks while a pause is
// measured: so the pause measured is the ledger's and the banks' (the
// election, the banks turning to the new leader), not the time until
// someone in the room pays.
type heartbeat struct {
	dial *websocket.Dialer // the demo's wallets' dialer; nil for the wallet package's
	mu   sync.Mutex
	a, b *wallet.Client
}

// wallets are the heartbeat's wallets, onboarded at the first and last
// banks (so its payments cross banks) the first time they are needed, or
// again if a session ended.
func (h *heartbeat) wallets(ctx context.Context, banks []Bank) ([2]*wallet.Client, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.a != nil && h.a.Err() == nil && h.b.Err() == nil {
		return [2]*wallet.Client{h.a, h.b}, nil
	}
	h.closeLocked()
	var ws [2]*wallet.Client
	for i, b := range []Bank{banks[0], banks[len(banks)-1]} {
		pub, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return ws, err
		}
		person := make([]byte, 8)
		rand.Read(person)
		name := fmt.Sprintf("Heartbeat %c", 'A'+i)
		if _, err := b.Bank.Onboard(ctx, bankadmin.CustomerSpec{Name: name, PersonID: "demo-heartbeat-" + hex.EncodeToString(person),
			Tier: "standard", Deposit: 10_000, PublicKeys: []ed25519.PublicKey{pub}}); err != nil {
			closeAll(ws[:])
			return ws, fmt.Errorf("onboard the heartbeat's wallet at %s: %w", b.Bank.ID(), err)
		}
		c, err := wallet.Dial(ctx, b.WalletURL, key, wallet.DialOptions{Bank: string(b.Bank.ID()), Events: 1, Dialer: h.dial})
		if err != nil {
			closeAll(ws[:])
			return ws, fmt.Errorf("open the heartbeat's wallet at %s: %w", b.Bank.ID(), err)
		}
		ws[i] = c
	}
	if err := payInDoubt(ctx, func(ctx context.Context, id string) error {
		_, err := ws[0].Withdraw(ctx, id, 100)
		return err
	}, ws[0].NewRequestID()); err != nil {
		closeAll(ws[:])
		return ws, fmt.Errorf("charge the heartbeat's wallet: %w", err)
	}
	h.a, h.b = ws[0], ws[1]
	return ws, nil
}

// pay pays one yen back and forth between the heartbeat's wallets, about
// ten times a second, until ctx ends.
func (h *heartbeat) pay(ctx context.Context, banks []Bank, log *slog.Logger) {
	var from, to *wallet.Client
	for ctx.Err() == nil {
		if from == nil || from.Err() != nil || to.Err() != nil { // a session ended: open new ones
			ws, err := h.wallets(ctx, banks)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("demo: no heartbeat payments; the pause waits for the room's", "err", err)
				}
				return
			}
			from, to = ws[0], ws[1]
		}
		err := payInDoubt(ctx, func(ctx context.Context, id string) error {
			_, err := from.Pay(ctx, id, to.Address(), 1)
			return err
		}, from.NewRequestID())
		switch {
		case err == nil:
			from, to = to, from
		case ctx.Err() == nil:
			log.Warn("demo: a heartbeat payment failed", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (h *heartbeat) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closeLocked()
}

func (h *heartbeat) closeLocked() {
	closeAll([]*wallet.Client{h.a, h.b})
	h.a, h.b = nil, nil
}

func closeAll(cs []*wallet.Client) {
	for _, c := range cs {
		if c != nil {
			c.Close()
		}
	}
}

// payInDoubt makes one request under one id, asking again under it while
// the bank answers that nothing was decided (protocol.AskAgain: the
// ledger out of reach, or the bank busy), until ctx ends.
func payInDoubt(ctx context.Context, f func(ctx context.Context, id string) error, id string) error {
	for {
		actx, cancel := context.WithTimeout(ctx, 6*time.Second)
		err := f(actx, id)
		cancel()
		asked, again := protocol.AskAgain(err)
		if !again || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(max(asked, 60*time.Millisecond)):
		}
	}
}

package soak

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// DefaultFrozenLedgerBound is how long a wallet may wait for an answer
// while the ledger is frozen: the banks' bound for a ledger call (2 s) and
// a second for a busy machine.
const DefaultFrozenLedgerBound = 3 * time.Second

// FrozenWait is what wallets saw of the requests they sent while one
// process was stopped.
type FrozenWait struct {
	Sent    int            `json:"sent"`       // payment requests sent while it was stopped
	Longest time.Duration  `json:"longest_ns"` // the longest any of them waited for its answer
	Answers map[string]int `json:"answers"`    // by code: "made", an error code, or "no answer" (the wallet gave up or lost its connection)
}

// faultKind is what happens to a process.
type faultKind int

const (
	faultKill   faultKind = iota // SIGKILL, then started again after Down
	faultFreeze                  // SIGSTOP, then SIGCONT after Frozen
)

func (k faultKind) String() string {
	if k == faultKill {
		return "SIGKILL"
	}
	return "SIGSTOP"
}

// Roles of a replica of a replicated ledger when a fault hits it.
const (
	roleLeader   = "leader"
	roleFollower = "follower"
)

// fault is one planned fault: of a process named in advance, or of the
// replicated ledger's replica in a role, found when the fault is made.
type fault struct {
	kind   faultKind
	target *service
	role   string // roleLeader or roleFollower when target is nil
}

// Fault is one fault the run made.
type Fault struct {
	At      time.Duration `json:"at_ns"`          // from the start of the load
	Kind    string        `json:"kind"`           // SIGKILL or SIGSTOP
	Process string        `json:"process"`        // such as ledger, ledger-2 or bank-1
	Role    string        `json:"role,omitempty"` // leader or follower, for a replica of a replicated ledger
	// Failover is, for a leader's SIGKILL, the time from the kill to the
	// first payment made after it (sent after it and answered as made):
	// the failover as a wallet sees it. 0 when none was made.
	Failover time.Duration `json:"failover_ns,omitempty"`
}

// plan lists the run's faults: the kills, each bank then the ledger in
// turn (or only those Only names), interleaved with the freezes in the
// same turn. The ledger side of a replicated ledger is its leader, then a
// follower, in turn for each kind.
func (r *run) plan() []fault {
	kills, freezes := r.cfg.faults(r.cfg.Kills), r.cfg.faults(r.cfg.Freezes)
	var out []fault
	for i := 0; i < max(kills, freezes); i++ {
		if i < kills {
			out = append(out, r.target(faultKill, i))
		}
		if i < freezes {
			out = append(out, r.target(faultFreeze, i))
		}
	}
	return out
}

// faults is how many faults of a kind n asks for in all: n of each side,
// or n of the one side Only names.
func (c *Config) faults(n int) int {
	if c.Only != "" {
		return n
	}
	return 2 * n
}

// target is the i-th fault of a kind.
func (r *run) target(kind faultKind, i int) fault {
	switch r.cfg.Only {
	case "ledger":
		return r.ledgerFault(kind, i)
	case "banks":
		return fault{kind: kind, target: r.banks[i%len(r.banks)]}
	}
	if i%2 == 1 {
		return r.ledgerFault(kind, i/2)
	}
	return fault{kind: kind, target: r.banks[(i/2)%len(r.banks)]}
}

// ledgerFault is the n-th fault of a kind on the ledger's side: the lone
// ledger, or the leader and a follower in turn.
func (r *run) ledgerFault(kind faultKind, n int) fault {
	switch {
	case !r.cfg.replicated():
		return fault{kind: kind, target: r.ledger}
	case n%2 == 0:
		return fault{kind: kind, role: roleLeader}
	default:
		return fault{kind: kind, role: roleFollower}
	}
}

// resolve finds the process a fault hits now: for a role, the replica
// that leads, or the followers in turn.
func (r *run) resolve(ctx context.Context, f fault) (*service, error) {
	if f.target != nil {
		return f.target, nil
	}
	leader, followers, err := r.leader(ctx, leaderWait)
	if err != nil {
		return nil, err
	}
	if f.role == roleLeader {
		return leader, nil
	}
	s := followers[r.follower%len(followers)]
	r.follower++
	return s, nil
}

// faultLoop makes the planned faults, spread over the load (until loadCtx
// ends) with a jitter drawn from the seed. A restart or a thaw is bounded
// by ctx only: a process is never left down or stopped while the run goes
// on.
func (r *run) faultLoop(ctx, loadCtx context.Context, start time.Time) error {
	faults := r.plan()
	if len(faults) == 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(uint64(r.cfg.Scenario.Seed), 7))
	gap := r.cfg.Duration / time.Duration(len(faults)+1)
	for i, f := range faults {
		at := start.Add(gap*time.Duration(i+1) + time.Duration((rng.Float64()-0.5)*0.4*float64(gap)))
		select {
		case <-loadCtx.Done():
			return nil
		case <-time.After(time.Until(at)):
		}
		target, err := r.resolve(ctx, f)
		if err != nil {
			return err
		}
		if f.kind == faultKill {
			err = r.killAndRestart(ctx, target, f.role, start)
		} else {
			err = r.freeze(ctx, target, f.role, start)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// logFault writes the fault's line and records it. A leader's kill waits
// for the first payment made after it.
func (r *run) logFault(kind faultKind, target *service, role string, start time.Time) {
	now := time.Now()
	at := now.Sub(start)
	args := []any{"process", target.name}
	if role != "" {
		args = append(args, "role", role)
	}
	r.cfg.Log.Info("soak: "+kind.String(), append(args, "after", at.Round(time.Millisecond))...)
	r.count(func() {
		r.faultLog = append(r.faultLog, Fault{At: at, Kind: kind.String(), Process: target.name, Role: role})
		if kind == faultKill && role == roleLeader {
			r.failing = append(r.failing, pendingFailover{len(r.faultLog) - 1, now})
		}
	})
}

// pendingFailover is a leader's kill no payment has been made since.
type pendingFailover struct {
	fault  int // its place in faultLog
	killed time.Time
}

// paidAfter notes a payment made on an attempt sent at sent and answered
// at answered: the first made on an attempt sent after a leader's kill
// ends that kill's failover. Called with r.mu held.
func (r *run) paidAfter(sent, answered time.Time) {
	kept := r.failing[:0]
	for _, p := range r.failing {
		if sent.Before(p.killed) {
			kept = append(kept, p)
			continue
		}
		r.faultLog[p.fault].Failover = max(answered.Sub(p.killed), time.Nanosecond)
	}
	r.failing = kept
}

// labelled is how the report names a process: with its role when it is a
// replica of a replicated ledger.
func labelled(target *service, role string) string {
	if role == "" {
		return target.name
	}
	return target.name + " (" + role + ")"
}

func (r *run) killAndRestart(ctx context.Context, target *service, role string, start time.Time) error {
	r.logFault(faultKill, target, role, start)
	if err := target.kill(); err != nil {
		return err
	}
	r.count(func() { r.kills = append(r.kills, target.name); r.down = labelled(target, role) })
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(r.cfg.Down):
	}
	if err := target.start(ctx); err != nil {
		return err
	}
	r.count(func() { r.down = "" })
	r.cfg.Log.Info("soak: restarted", "process", target.name, "at", target.url())
	return nil
}

// freeze stops the process with SIGSTOP, as a stalled disk, a paused VM or
// a long GC pause would, and continues it after Frozen.
//
// The answers wallets get while it is stopped are counted under its name,
// or for a replica of a replicated ledger under its role.
func (r *run) freeze(ctx context.Context, target *service, role string, start time.Time) error {
	r.logFault(faultFreeze, target, role, start)
	if err := target.stopSignal(); err != nil {
		return err
	}
	as := target.name
	if role != "" {
		as = role
	}
	r.count(func() { r.freezes = append(r.freezes, target.name); r.frozen, r.frozenAs = labelled(target, role), as })
	select {
	case <-ctx.Done():
	case <-time.After(r.cfg.Frozen):
	}
	r.count(func() { r.frozen, r.frozenAs = "", "" })
	if err := target.continueSignal(); err != nil {
		return err
	}
	r.cfg.Log.Info("soak: SIGCONT", "process", target.name)
	return ctx.Err()
}

// frozenNow is what the answers to a request sent now are counted under
// while a process is stopped; "" when none is.
func (r *run) frozenNow() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frozenAs
}

// noteFrozenAnswer records the answer to a request sent while process
// name was stopped, and how long it took.
func (r *run) noteFrozenAnswer(name string, took time.Duration, err error) {
	code := "made"
	var perr *protocol.Error
	switch {
	case errors.As(err, &perr):
		code = perr.Code
	case err != nil:
		code = "no answer"
	}
	r.count(func() {
		w := r.waits[name]
		if w == nil {
			w = &FrozenWait{Answers: map[string]int{}}
			r.waits[name] = w
		}
		w.Sent++
		w.Longest = max(w.Longest, took)
		w.Answers[code]++
	})
}

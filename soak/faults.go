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

type fault struct {
	kind   faultKind
	target *service
}

// plan lists the run's faults: the kills, each bank then the ledger in
// turn (or only those Only names), interleaved with the freezes in the
// same turn.
func (r *run) plan() []fault {
	kills, freezes := r.cfg.faults(r.cfg.Kills), r.cfg.faults(r.cfg.Freezes)
	var out []fault
	for i := 0; i < max(kills, freezes); i++ {
		if i < kills {
			out = append(out, fault{faultKill, r.target(i)})
		}
		if i < freezes {
			out = append(out, fault{faultFreeze, r.target(i)})
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

// target is the process the i-th fault of a kind hits.
func (r *run) target(i int) *service {
	switch r.cfg.Only {
	case "ledger":
		return r.ledger
	case "banks":
		return r.banks[i%len(r.banks)]
	}
	if i%2 == 1 {
		return r.ledger
	}
	return r.banks[(i/2)%len(r.banks)]
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
		var err error
		if f.kind == faultKill {
			err = r.killAndRestart(ctx, f.target, start)
		} else {
			err = r.freeze(ctx, f.target, start)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *run) killAndRestart(ctx context.Context, target *service, start time.Time) error {
	r.cfg.Log.Info("soak: SIGKILL", "process", target.name, "after", time.Since(start).Round(time.Millisecond))
	if err := target.kill(); err != nil {
		return err
	}
	r.count(func() { r.kills = append(r.kills, target.name); r.down = target.name })
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
func (r *run) freeze(ctx context.Context, target *service, start time.Time) error {
	r.cfg.Log.Info("soak: SIGSTOP", "process", target.name, "after", time.Since(start).Round(time.Millisecond))
	if err := target.stopSignal(); err != nil {
		return err
	}
	r.count(func() { r.freezes = append(r.freezes, target.name); r.frozen = target.name })
	select {
	case <-ctx.Done():
	case <-time.After(r.cfg.Frozen):
	}
	r.count(func() { r.frozen = "" })
	if err := target.continueSignal(); err != nil {
		return err
	}
	r.cfg.Log.Info("soak: SIGCONT", "process", target.name)
	return ctx.Err()
}

func (r *run) frozenNow() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frozen
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

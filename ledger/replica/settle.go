package replica

import (
	"context"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
)

// Settler is the leader's offline settlement while this replica leads and
// settles; nil otherwise (a follower, a leader still opening it, or a
// replica without offline settlement).
func (r *Replica) Settler() *settlement.Settler { return r.settler.Load() }

// SettlesOffline reports whether this replica settles offline vouchers
// when it leads.
func (r *Replica) SettlesOffline() bool { return r.cfg.Offline != nil }

func (r *Replica) wakeSettle() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// settle runs the leader's Settler: it opens one on this replica's copy of
// the index once the ledger leads (everything committed before is then
// applied), and closes it the moment the ledger stops leading or the
// settler stops on a failed write (one whose outcome is in doubt: a new
// Settler reads what was committed). One goroutine, so two Settlers never
// run on one replica.
func (r *Replica) settle() {
	defer close(r.settleDone)
	if r.cfg.Offline == nil {
		<-r.quit
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-r.quit
		cancel()
	}()
	var (
		st   *settlement.Settler
		term uint64 // r.leaderChanges when st opened: any change since, and st is stale
	)
	stop := func() {
		r.settler.Store(nil)
		if err := st.Close(); err != nil {
			r.log.Warn("closing the leader's offline settlement", "err", err)
		}
		st = nil
	}
	tick := time.NewTicker(r.cfg.HeartbeatTimeout)
	defer tick.Stop()
	for {
		switch {
		case st != nil && (!r.led.Leading() || st.Err() != nil || r.leaderChanges.Load() != term):
			// A leadership lost and won again while this loop slept
			// leaves st's memory behind another leader's writes.
			stop()
		case st == nil && r.led.Leading() && r.Err() == nil:
			// A write of an earlier Settler may have timed out and still
			// be in the log: the barrier applies it before this one reads.
			if err := r.raft.Barrier(r.cfg.ElectionTimeout * 4).Error(); err != nil {
				break
			}
			opened := r.leaderChanges.Load()
			cfg := r.cfg.Offline.Settlement
			cfg.Replicated = &settlement.Replicated{Index: r.index, Replicator: r, RootKey: r.cfg.Offline.RootKey}
			if cfg.Logger == nil {
				cfg.Logger = r.log
			}
			s, err := settlement.Open(ctx, r.led, cfg)
			if err != nil {
				if ctx.Err() == nil {
					r.log.Warn("opening offline settlement on the leader; trying again", "err", err)
				}
				break
			}
			st, term = s, opened
			r.settler.Store(s)
			r.log.Info("leader settles offline vouchers")
		}
		select {
		case <-r.quit:
			if st != nil {
				stop()
			}
			return
		case <-r.kick:
		case <-tick.C:
		}
	}
}

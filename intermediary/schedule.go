package intermediary

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// Scheduled payments fire from the bank, not the wallet: the wallet signs
// the schedule once, and each payment it makes is named "s:<ref>:<n>" at
// the ledger, so a firing interrupted by a crash is finished, never
// doubled, when the bank comes back.

type scheduleRec struct {
	protocol.ScheduleInfo
	Wallet    string    `json:"wallet"` // key id
	RequestID string    `json:"request_id"`
	At        time.Time `json:"at"` // the first payment, as the wallet asked
}

const (
	scheduleActive    = "active"
	scheduleDone      = "done"
	scheduleCancelled = "cancelled"
)

type scheduler struct {
	mu     sync.Mutex // protects active
	active map[string]*scheduleRec
	wake   chan struct{}
}

// load takes the active schedules among those the bank's file holds.
func (sc *scheduler) load(recs []*scheduleRec) {
	sc.active = map[string]*scheduleRec{}
	sc.wake = make(chan struct{}, 1)
	for _, rec := range recs {
		if rec.Status == scheduleActive {
			sc.active[rec.Ref] = rec
		}
	}
}

func (sc *scheduler) kick() {
	select {
	case sc.wake <- struct{}{}:
	default:
	}
}

// due returns the active schedules due at now, and when the next one is.
func (sc *scheduler) due(now time.Time) ([]*scheduleRec, time.Time) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	var due []*scheduleRec
	next := now.Add(time.Minute)
	for _, r := range sc.active {
		if !r.Next.After(now) {
			due = append(due, r)
		} else if r.Next.Before(next) {
			next = r.Next
		}
	}
	return due, next
}

func (b *Bank) runScheduler() {
	for {
		due, next := b.sched.due(b.now())
		for _, r := range due {
			b.fire(r)
		}
		if len(due) > 0 {
			continue
		}
		t := time.NewTimer(next.Sub(b.now()))
		select {
		case <-b.ctx.Done():
			t.Stop()
			return
		case <-b.sched.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// fire makes one payment of a schedule and moves it on. A payment whose
// outcome is unknown is tried again shortly with the same op id; a refused
// one counts as made, with its error kept and pushed to the wallet.
func (b *Bank) fire(r *scheduleRec) {
	w := b.wallet(r.Wallet)
	if w == nil {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	w.mu.Lock()
	// A cancel_schedule answered while this firing waited for the lock
	// wins: the schedule is no longer active, and nothing is paid.
	b.sched.mu.Lock()
	active := r.Status == scheduleActive
	b.sched.mu.Unlock()
	if !active {
		w.mu.Unlock()
		return
	}
	paid, err := b.pay(ctx, w, "s:"+r.Ref+":"+strconv.Itoa(r.Fired), r.To, r.Amount)
	w.mu.Unlock()
	var pe *protocol.Error
	errors.As(err, &pe)
	if err != nil && (pe == nil || pe.Code == protocol.CodeUnavailable) { // outcome unknown: ask again, same op id
		b.logErr("scheduled payment not made yet; retrying", err, "schedule", r.Ref)
		b.sched.mu.Lock()
		r.Next = b.now().Add(2 * time.Second)
		b.sched.mu.Unlock()
		return
	}
	b.sched.mu.Lock()
	r.Fired++
	r.LastError = pe
	every, _ := time.ParseDuration(r.Every)
	if every > 0 && (r.Times == 0 || r.Fired < r.Times) {
		r.Next = r.Next.Add(every)
	} else {
		r.Status = scheduleDone
		delete(b.sched.active, r.Ref)
	}
	info := r.ScheduleInfo
	b.sched.mu.Unlock()
	if err := b.saveSchedule(r); err != nil {
		b.logErr("storing a schedule failed", err, "schedule", r.Ref)
	}
	if msg, err := protocol.Encode(protocol.TypeScheduleUpdate, "", protocol.ScheduleUpdate{Schedule: info, Paid: paid, Error: pe}); err == nil {
		b.notifier.get().Push(w.keyID, msg)
	}
}

func (b *Bank) saveSchedule(r *scheduleRec) error {
	b.sched.mu.Lock()
	rec := *r
	b.sched.mu.Unlock()
	return b.st.saveSchedule(&rec)
}

func (c walletCall) schedule(ctx context.Context, id string, body json.RawMessage) (string, any, error) {
	var m protocol.Schedule
	unlock, err := c.instruction(protocol.TypeSchedule, id, body, &m)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	info, err := c.b.addSchedule(c.w, id, &m)
	return protocol.TypeScheduled, protocol.Scheduled{Schedule: info}, err
}

func (b *Bank) checkSchedule(w *Wallet, m *protocol.Schedule) error {
	if err := b.checkPayment(w, m.To, m.Amount); err != nil {
		return err
	}
	now := b.now()
	every, err := time.ParseDuration(m.Every)
	switch {
	case m.Every != "" && (err != nil || every < time.Second || every > 366*24*time.Hour):
		return fail(protocol.CodeBadSchedule, "every is a duration such as \"720h\" from 1s to 8784h, got %q", m.Every)
	case m.At.IsZero() || m.At.After(now.Add(366*24*time.Hour)):
		return fail(protocol.CodeBadSchedule, "at must be a time within a year from now")
	case m.Times < 0 || m.Times > 10_000 || m.Every == "" && m.Times > 1:
		return fail(protocol.CodeBadSchedule, "times is 0 to 10000, and only for recurring payments")
	case !protocol.ValidText(m.Memo, 140):
		return fail(protocol.CodeBadMemo, "a memo is at most 140 characters without control characters")
	}
	return nil
}

// addSchedule stores a new schedule, or returns the one an earlier try of
// the same instruction stored.
func (b *Bank) addSchedule(w *Wallet, requestID string, m *protocol.Schedule) (protocol.ScheduleInfo, error) {
	if err := b.checkSchedule(w, m); err != nil {
		return protocol.ScheduleInfo{}, err
	}
	same := func(first *scheduleRec) error {
		if first.To != m.To || first.Amount != m.Amount || first.Every != m.Every || first.Memo != m.Memo ||
			first.Times != m.Times || !first.At.Equal(m.At) {
			return fail(protocol.CodeRequestIDReused, "this request id was used for another instruction")
		}
		return nil
	}
	rec, fresh, err := b.st.addSchedule(w.keyID, requestID, same, func(n uint64) scheduleRec {
		return scheduleRec{Wallet: w.keyID, RequestID: requestID, At: m.At.UTC(), ScheduleInfo: protocol.ScheduleInfo{
			Ref: "sc-" + strconv.FormatUint(n, 10), To: m.To, Amount: m.Amount, Memo: m.Memo, Next: m.At.UTC(),
			Every: m.Every, Times: m.Times, Status: scheduleActive}}
	})
	if err != nil {
		return protocol.ScheduleInfo{}, err
	}
	if fresh {
		b.sched.mu.Lock()
		b.sched.active[rec.Ref] = rec
		b.sched.mu.Unlock()
		b.sched.kick()
	}
	return rec.ScheduleInfo, nil
}

func (c walletCall) cancelSchedule(ctx context.Context, id string, body json.RawMessage) (string, any, error) {
	var m protocol.CancelSchedule
	unlock, err := c.instruction(protocol.TypeCancelSchedule, id, body, &m)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	b := c.b
	rec, err := b.st.updateSchedule(m.Ref, func(rec *scheduleRec, found bool) (bool, error) {
		switch {
		case !found || rec.Wallet != c.w.keyID:
			return false, fail(protocol.CodeUnknownSchedule, "no scheduled payment %q belongs to this wallet", m.Ref)
		case rec.Status != scheduleActive:
			return false, nil
		}
		b.sched.mu.Lock()
		if live := b.sched.active[m.Ref]; live != nil {
			live.Status = scheduleCancelled
			rec.ScheduleInfo = live.ScheduleInfo
			delete(b.sched.active, m.Ref)
		}
		rec.Status = scheduleCancelled
		b.sched.mu.Unlock()
		return true, nil
	})
	return protocol.TypeCancelled, protocol.Scheduled{Schedule: rec.ScheduleInfo}, err
}

func (c walletCall) schedules(_ context.Context, _ string, _ json.RawMessage) (string, any, error) {
	list := protocol.ScheduleList{Schedules: []protocol.ScheduleInfo{}}
	infos, err := c.b.st.walletSchedules(c.w.keyID, maxListed*2)
	list.Schedules = append(list.Schedules, infos...)
	return protocol.TypeScheduleList, list, err
}

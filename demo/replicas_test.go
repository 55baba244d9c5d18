package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	sbx "github.com/digital-yen/cbdc-sandbox/sandbox"
)

// newReplicatedRig is the room rig on a replicated central ledger: three
// replicas in this process (Raft timeouts of 200 ms), two banks reaching
// them through ledgerhttp clients, and the demo showing the replicas, as
// wrap gives them when it is not nil.
func newReplicatedRig(t *testing.T, wrap func(*sbx.Cluster) Replicas) (*roomRig, *sbx.Cluster) {
	t.Helper()
	r := &roomRig{t: t, dir: t.TempDir(), http: &http.Client{Timeout: time.Minute}}
	c, err := sbx.OpenCluster(context.Background(), sbx.ClusterConfig{Dir: r.dir, Replicas: 3, Banks: 2, Float: 50_000_000,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.stopAll()
		if err := c.Close(); err != nil {
			t.Errorf("close the replicas: %v", err)
		}
	})
	if r.banks, err = c.StartBanks(context.Background(), r.rigConfig()); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Ledger: c, Offline: Settling(c.Settler), Replicas: c, Dir: r.roomDir()}
	if wrap != nil {
		cfg.Replicas = wrap(c)
	}
	for _, b := range r.banks {
		r.addrs = append(r.addrs, b.Addr)
		cfg.Banks = append(cfg.Banks, Bank{Bank: b.Bank, WalletURL: b.WalletURL()})
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.demo, r.web = d, httptest.NewServer(d.Handler())
	return r, c
}

func (r *roomRig) replicas() ReplicasView {
	r.t.Helper()
	var v ReplicasView
	r.get("/api/replicas", &v)
	return v
}

// paidInJournal lists the amounts of every transfer from one account to
// another in the replicated ledger's journal.
func paidInJournal(t *testing.T, c *sbx.Cluster, from, to string) []int64 {
	t.Helper()
	var out []int64
	for seq := uint64(1); ; {
		evs, err := c.Events(seq, ledger.MaxPage)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		for _, e := range evs {
			for _, tr := range e.Transfers {
				if string(tr.From) == from && string(tr.To) == to {
					out = append(out, tr.Amount)
				}
			}
			seq = e.Seq + 1
		}
	}
}

// The leader stopped from the demo's API while wallets pay through it:
// payments go on (none fails), every one acknowledged is in the journal
// once, money is conserved, the pause is measured and reported, the feed
// shows every journal record once though the replica it followed
// stopped, and the stopped replica started again catches up to the same
// head, with a clean audit on every replica.
func TestReplicas_LeaderStoppedWhilePaying(t *testing.T) {
	r, c := newReplicatedRig(t, nil)
	page := r.openLive()
	v := r.replicas()
	if len(v.Replicas) != 3 || v.Leader == "" {
		t.Fatalf("the panel: %+v", v)
	}
	if st := r.state(); st.Replicas == nil || st.Offline == nil {
		t.Errorf("the overview of a replicated ledger: replicas %v, offline %v (the leader settles)", st.Replicas, st.Offline)
	}

	// Two payers, each paying another wallet across banks.
	type pair struct{ from, to WalletView }
	var pairs []pair
	for i := range 2 {
		a := r.newWallet(fmt.Sprint("Payer ", i), "bank-1")
		b := r.newWallet(fmt.Sprint("Payee ", i), "bank-2")
		r.act(a.ID, "withdraw", map[string]any{"amount": 50_000})
		pairs = append(pairs, pair{a, b})
	}
	var (
		mu     sync.Mutex
		acked  = make([][]int64, len(pairs))
		failed []string
		stop   atomic.Bool
		wg     sync.WaitGroup
		during atomic.Int64 // payments acknowledged after the stop
		after  atomic.Bool
	)
	for i, p := range pairs {
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				amount := int64(n%50 + 1)
				status, body, err := r.send("/api/wallets/"+p.from.ID+"/pay", fmt.Sprintf(`{"to": %q, "amount": %d}`, p.to.ID, amount))
				mu.Lock()
				if err == nil && status == http.StatusOK {
					acked[i] = append(acked[i], amount)
					if after.Load() {
						during.Add(1)
					}
				} else {
					failed = append(failed, fmt.Sprintf("%s pays %d: %d %s %v", p.from.Name, amount, status, body, err))
				}
				mu.Unlock()
				time.Sleep(60 * time.Millisecond)
			}
		})
	}
	r.eventually("payments flow", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(acked[0]) >= 5 && len(acked[1]) >= 5, fmt.Sprint(len(acked[0]), len(acked[1]))
	})

	var stopped ReplicasView
	r.call("/api/replicas/stop", map[string]string{"replica": "leader"}, http.StatusOK, &stopped)
	after.Store(true)
	var gone string
	for _, x := range stopped.Replicas {
		if x.Role == "stopped" {
			gone = x.ID
		}
	}
	if gone != v.Leader || stopped.Measuring == nil || stopped.Measuring.Stopped != gone || !stopped.Measuring.Led {
		t.Fatalf("after stopping the leader %s: %+v", v.Leader, stopped)
	}
	if e := r.refused("/api/replicas/stop", map[string]string{"replica": "leader"}); e.Code != "measuring" {
		t.Errorf("a second stop while the pause is measured: %+v", e)
	}
	var p Pause
	r.eventually("the pause is measured", func() (bool, string) {
		v := r.replicas()
		if v.Measuring != nil || len(v.Pauses) == 0 {
			return false, fmt.Sprintf("%+v", v)
		}
		p = v.Pauses[0]
		return true, ""
	})
	if !p.Measured() || p.PauseMS <= 0 || p.Stopped != gone || p.Leader == "" || p.Leader == gone || p.Seq <= p.Head || !p.Resumed.After(p.At) {
		t.Errorf("the measured pause: %+v", p)
	}
	t.Logf("stopped %s; payments resumed after %.0f ms under %s", gone, p.PauseMS, p.Leader)
	r.waitFor(page, "the pause", func(m message) bool {
		return m.Type == "replicas" && len(m.Replicas.Pauses) > 0 && m.Replicas.Pauses[0].Measured() ||
			m.Type == "event" && m.Event.Kind == "replica_pause"
	})
	r.eventually("payments go on under the new leader", func() (bool, string) {
		return during.Load() >= 10, fmt.Sprint(during.Load())
	})

	// What cannot be done says why.
	for _, c := range []struct {
		path, replica, code string
	}{
		{"/api/replicas/stop", gone, "replica_stopped"},
		{"/api/replicas/stop", "leader", "no_majority"},
		{"/api/replicas/stop", "ledger-7", "no_such_replica"},
		{"/api/replicas/stop", "", "bad_request"},
		{"/api/replicas/start", p.Leader, "replica_running"},
		{"/api/replicas/start", "leader", "bad_request"},
	} {
		if e := r.refused(c.path, map[string]string{"replica": c.replica}); e.Code != c.code {
			t.Errorf("%s %q: %+v, want %s", c.path, c.replica, e, c.code)
		}
	}

	var started ReplicasView
	r.call("/api/replicas/start", map[string]string{"replica": gone}, http.StatusOK, &started)
	for _, x := range started.Replicas {
		if x.ID == gone && x.Role == "stopped" {
			t.Errorf("started again, still stopped: %+v", x)
		}
	}
	time.Sleep(300 * time.Millisecond) // payments under the whole group again
	stop.Store(true)
	wg.Wait()
	if len(failed) > 0 {
		t.Errorf("%d payments failed across the stop: %q", len(failed), failed)
	}

	// Every acknowledged payment in the books once; money conserved.
	for i, p := range pairs {
		from, to := r.wallet(p.from.ID), r.wallet(p.to.ID)
		inBooks := paidInJournal(t, c, from.Address, to.Address)
		got, want := slices.Sorted(slices.Values(inBooks)), slices.Sorted(slices.Values(acked[i]))
		if !slices.Equal(got, want) {
			t.Errorf("%s → %s: %d payments acknowledged, %d in the journal", from.Name, to.Name, len(want), len(got))
		}
		var sum int64
		for _, a := range want {
			sum += a
		}
		if to.Balance != sum || from.Balance != 50_000-sum {
			t.Errorf("%s holds %d and %s %d, after %d yen paid", from.Name, from.Balance, to.Name, to.Balance, sum)
		}
	}
	r.conserved("after the stop and the restart")

	// The feed showed every journal record once, in order, across the stop.
	seqs := ledgerSeqs(page)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("the page was shown records %d then %d: the feed lost or repeated records across the stop", seqs[i-1], seqs[i])
		}
	}
	if len(seqs) == 0 || seqs[len(seqs)-1] < p.Seq {
		t.Errorf("the feed showed records up to %v, not past the first payment after the stop (%d)", seqs[len(seqs)-1:], p.Seq)
	}

	// Caught up: once the demo (and its heartbeat) stopped, every
	// replica's journal ends at the same record.
	r.stopAll()
	var head uint64
	r.eventually("the replica started again catches up", func() (bool, string) {
		var heads []uint64
		for _, x := range c.Replicas() {
			if !x.Running {
				return false, x.ID + " stopped"
			}
			heads = append(heads, x.Head)
		}
		head = slices.Max(heads)
		return slices.Min(heads) == head, fmt.Sprint(heads)
	})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if rep, err := ledger.Audit(filepath.Join(sbx.ReplicaDir(r.dir, i), "ledger")); err != nil || !rep.OK() || rep.Totals.Seq != head {
			t.Errorf("%s audit: %v %+v, want a clean journal ending at %d", sbx.ReplicaID(i), err, rep, head)
		}
	}
}

// A lone ledger has no replicas: the panel's calls say so.
func TestReplicas_NotReplicated(t *testing.T) {
	r := newRoomRig(t)
	if e := r.refused("/api/replicas/stop", map[string]string{"replica": "leader"}); e.Code != "not_replicated" {
		t.Errorf("stop: %+v", e)
	}
	if e := r.refused("/api/replicas/start", map[string]string{"replica": "ledger-1"}); e.Code != "not_replicated" {
		t.Errorf("start: %+v", e)
	}
	resp, err := r.http.Get(r.web.URL + "/api/replicas")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e apiError
	if json.NewDecoder(resp.Body).Decode(&e); resp.StatusCode != http.StatusConflict || e.Error == nil || e.Error.Code != "not_replicated" {
		t.Errorf("GET /api/replicas: %d %+v", resp.StatusCode, e.Error)
	}
	if st := r.state(); st.Replicas != nil {
		t.Errorf("the overview of a lone ledger shows replicas: %+v", st.Replicas)
	}
}

// noLeader is a group in an election: no replica leads.
type noLeader struct{ *sbx.Cluster }

func (noLeader) StopLeader() (sbx.Stopped, error) {
	return sbx.Stopped{}, fmt.Errorf("%w (an election is under way)", sbx.ErrNoLeader)
}

// Stopping the leader while none leads is refused, saying so.
func TestReplicas_StopWithNoLeader(t *testing.T) {
	r, _ := newReplicatedRig(t, func(c *sbx.Cluster) Replicas { return noLeader{c} })
	e := r.refused("/api/replicas/stop", map[string]string{"replica": "leader"})
	if e.Code != "no_leader" || e.Message != "no replica leads just now (an election is under way)" {
		t.Errorf("stopping the leader while none leads: %+v", e)
	}
	for _, x := range r.replicas().Replicas {
		if x.Role == "stopped" {
			t.Errorf("a replica was stopped: %+v", x)
		}
	}
}

// A stop that names a replica stops that one, leader or follower, and
// its pause says which it was: the page's confirmation names the replica
// it stops, so a change of leader while it is open stops the replica the
// presenter agreed to, and the room is not told a leader failed over
// when a follower stopped.
func TestReplicas_StopNamesTheReplica(t *testing.T) {
	r, _ := newReplicatedRig(t, nil)
	measured := func(id string) Pause {
		t.Helper()
		var p Pause
		r.eventually("the pause after "+id+" stopped is measured", func() (bool, string) {
			v := r.replicas()
			if v.Measuring != nil || len(v.Pauses) == 0 || v.Pauses[0].Stopped != id {
				return false, fmt.Sprintf("%+v", v)
			}
			p = v.Pauses[0]
			return true, ""
		})
		return p
	}
	v := r.replicas()
	var follower string
	for _, x := range v.Replicas {
		if x.ID != v.Leader {
			follower = x.ID
		}
	}
	if v.Leader == "" || follower == "" {
		t.Fatalf("the panel: %+v", v)
	}
	var stopped ReplicasView
	r.call("/api/replicas/stop", map[string]string{"replica": follower}, http.StatusOK, &stopped)
	if m := stopped.Measuring; m == nil || m.Stopped != follower || m.Led {
		t.Fatalf("after stopping the follower %s: %+v", follower, stopped)
	}
	if p := measured(follower); !p.Measured() || p.Led || p.Leader == "" || p.Leader == follower {
		t.Errorf("the pause after the follower %s stopped: %+v", follower, p)
	}

	r.call("/api/replicas/start", map[string]string{"replica": follower}, http.StatusOK, nil)
	r.eventually("all three run under a leader", func() (bool, string) {
		v = r.replicas()
		for _, x := range v.Replicas {
			if x.Role == "stopped" {
				return false, fmt.Sprintf("%+v", v)
			}
		}
		return v.Leader != "", fmt.Sprintf("%+v", v)
	})
	leader := v.Leader
	r.call("/api/replicas/stop", map[string]string{"replica": leader}, http.StatusOK, &stopped)
	if m := stopped.Measuring; m == nil || m.Stopped != leader || !m.Led {
		t.Fatalf("after stopping the leader %s by name: %+v", leader, stopped)
	}
	if p := measured(leader); !p.Measured() || !p.Led || p.Leader == leader || p.Leader == "" {
		t.Errorf("the pause after the leader %s stopped: %+v", leader, p)
	}
}

// Offline payments on a replicated ledger: a purse funded under one
// leader pays another offline, the leader is stopped, and the payee's
// sync settles at the next leader, once; the payer's later sync settles
// nothing twice and the books stay conserved.
func TestReplicas_OfflinePaymentSettlesUnderTheNextLeader(t *testing.T) {
	r, c := newReplicatedRig(t, nil)
	mika, ken := r.newWallet("Mika", "bank-1"), r.newWallet("Ken", "bank-2")
	r.act(mika.ID, "withdraw", map[string]any{"amount": 10_000})
	r.fund(mika.ID, 8000)
	r.fund(ken.ID, 0)
	r.payOffline(mika.ID, ken.ID, 3000)
	r.payOffline(mika.ID, ken.ID, 500)

	var stopped ReplicasView
	r.call("/api/replicas/stop", map[string]string{"replica": "leader"}, http.StatusOK, &stopped)
	rec := r.sync(ken.ID)
	if rec.Error != nil || len(rec.Paid) != 1 || rec.Paid[0].Amount != 3500 {
		t.Fatalf("the payee's sync under the next leader: %+v", rec)
	}
	again := r.sync(mika.ID)
	if again.Error != nil || len(again.Paid) != 0 {
		t.Errorf("the payer's sync of the same vouchers paid again: %+v", again)
	}
	st := c.Settler()
	if st == nil {
		t.Fatal("no leader settles")
	}
	if sum := st.Summary(); sum.Settled != 2 || sum.Pending != 0 || sum.SettledAmount.String() != "3500" {
		t.Errorf("settlement at the new leader: %+v", sum)
	}
	r.conserved("after offline payments across a leader stop")
}

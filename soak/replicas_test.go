package soak

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/sim"
)

// A replicated ledger's faults on the ledger side take its leader, then a
// follower, in turn for each kind; the banks are taken as before, and
// -only aims every fault at one side.
func TestPlan_ReplicatedLedgerTakesLeaderThenFollower(t *testing.T) {
	r := &run{replicas: []*service{{name: "ledger-1"}, {name: "ledger-2"}, {name: "ledger-3"}},
		banks: []*service{{name: "bank-1"}, {name: "bank-2"}}}
	r.cfg.Replicas = 3
	for _, c := range []struct {
		only           string
		kills, freezes int
		want           string
	}{
		{"", 0, 0, ""},
		{"", 2, 1, "kill bank-1, freeze bank-1, kill leader, freeze leader, kill bank-2, kill follower"},
		{"", 3, 0, "kill bank-1, kill leader, kill bank-2, kill follower, kill bank-1, kill leader"},
		{"ledger", 3, 2, "kill leader, freeze leader, kill follower, freeze follower, kill leader"},
		{"ledger", 0, 3, "freeze leader, freeze follower, freeze leader"},
		{"banks", 2, 1, "kill bank-1, freeze bank-1, kill bank-2"},
	} {
		r.cfg.Only, r.cfg.Kills, r.cfg.Freezes = c.only, c.kills, c.freezes
		if got := planString(r.plan()); got != c.want {
			t.Errorf("only %q, kills %d, freezes %d: %s, want %s", c.only, c.kills, c.freezes, got, c.want)
		}
	}
}

func planString(faults []fault) string {
	var got []string
	for _, f := range faults {
		who := f.role
		if f.target != nil {
			who = f.target.name
		}
		got = append(got, fmt.Sprintf("%s %s", map[faultKind]string{faultKill: "kill", faultFreeze: "freeze"}[f.kind], who))
	}
	return strings.Join(got, ", ")
}

// The count of replicas is checked before anything starts: 0 or 1 is
// the lone ledger, an odd number from 3 a group; 2 and other even counts
// are refused with the reason, a majority.
func TestCheckReplicas(t *testing.T) {
	for _, n := range []int{0, 1, 3, 5, 7} {
		if err := CheckReplicas(n); err != nil {
			t.Errorf("%d replicas: %v", n, err)
		}
	}
	for n, says := range map[int]string{-1: "0 or more", 2: "majority of 2 is both", 4: "majority of its replicas (3 of 4)",
		6: "majority", 9: "more than the 7", 8: "majority"} {
		err := CheckReplicas(n)
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%d replicas: %v, want an error saying %q", n, err, says)
		}
	}
}

// Config.check refuses a bad count of replicas, and ports that would run
// past 65535 once the replicas' HTTP and Raft ports are counted.
func TestConfigCheck_Replicas(t *testing.T) {
	sc := &sim.Scenario{Name: "s", Banks: 2, Duration: sim.Duration(time.Minute)}
	for _, c := range []struct {
		cfg  Config
		says string // "" when the config is good
	}{
		{Config{Replicas: 3}, ""},
		{Config{Replicas: 1}, ""},
		{Config{Replicas: 2}, "majority"},
		{Config{Replicas: -3}, "0 or more"},
		{Config{Replicas: 3, Ports: 65527}, ""}, // 2 banks, 3 HTTP and 3 Raft ports: 65535 the last
		{Config{Replicas: 3, Ports: 65528}, "ports 65528 to 65536 are not all between 1024 and 65535"},
		{Config{Replicas: 0, Ports: 65533}, ""},
	} {
		cfg := c.cfg
		cfg.Binary, cfg.Scenario = "cbdc", sc
		err := cfg.check()
		if c.says == "" && err != nil || c.says != "" && (err == nil || !strings.Contains(err.Error(), c.says)) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.says)
		}
	}
}

func TestParseReadyz(t *testing.T) {
	for body, want := range map[string]string{
		"ready: leader\n":                                  "ledger-1",
		"ready: follower of leader ledger-3\n":             "ledger-3",
		"not ready: candidate, cut off: no leader known\n": "",
		"ready\n": "",
		"":        "",
	} {
		if got := parseReadyz("ledger-1", body).leader; got != want {
			t.Errorf("%q: leader %q, want %q", body, got, want)
		}
	}
}

// The leader is the replica that says it leads and that a majority take
// for the leader; a replica continued after a freeze that still says it
// leads while the others follow another is not.
func TestAgreedLeader(t *testing.T) {
	names := []string{"ledger-1", "ledger-2", "ledger-3"}
	rd := func(leaders ...string) []readiness {
		var out []readiness
		for _, l := range leaders {
			out = append(out, readiness{leader: l})
		}
		return out
	}
	for _, c := range []struct {
		answers []readiness
		want    int
	}{
		{rd("ledger-2", "ledger-2", "ledger-2"), 1},
		{rd("ledger-2", "ledger-2", ""), 1},          // one cut off or frozen
		{rd("", "ledger-2", ""), -1},                 // it says it leads; nobody else agrees
		{rd("ledger-1", "ledger-2", "ledger-2"), 1},  // ledger-1 continued, not yet stepped down
		{rd("ledger-3", "ledger-3", "ledger-2"), -1}, // ledger-3 is not saying it leads
		{rd("ledger-1", "ledger-1", "ledger-3"), 0},  // ledger-3 follows a leader the others left
		{[]readiness{{}, {}, {says: "connection refused"}}, -1},
	} {
		got, ok := agreedLeader(names, c.answers)
		if got != c.want || ok != (c.want >= 0) {
			t.Errorf("%+v: %d %v, want %d", c.answers, got, ok, c.want)
		}
	}
}

// fakeReplicas serves /readyz and /metrics for each named replica, with
// answers the test changes as it goes.
type fakeReplicas struct {
	mu      sync.Mutex
	readyz  map[string]string
	records map[string]string
}

func (f *fakeReplicas) set(readyz, records map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readyz, f.records = readyz, records
}

func newFakeRun(t *testing.T, f *fakeReplicas, names ...string) *run {
	t.Helper()
	r := &run{probe: &http.Client{}}
	r.cfg.Replicas = len(names)
	for _, name := range names {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			f.mu.Lock()
			defer f.mu.Unlock()
			switch req.URL.Path {
			case "/readyz":
				body := f.readyz[name]
				if !strings.HasPrefix(body, "ready") {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
				fmt.Fprintln(w, body)
			case "/metrics":
				fmt.Fprintf(w, "# HELP cbdc_ledger_journal_records Records in the central ledger's journal.\n# TYPE cbdc_ledger_journal_records gauge\ncbdc_ledger_journal_records %s\n", f.records[name])
			default:
				http.NotFound(w, req)
			}
		}))
		t.Cleanup(srv.Close)
		r.replicas = append(r.replicas, &service{name: name, listen: strings.TrimPrefix(srv.URL, "http://")})
	}
	return r
}

// A fault on the leader takes the replica /readyz says leads at the time
// of the fault; one on a follower takes the others in turn.
func TestResolve_LeaderNowAndFollowersInTurn(t *testing.T) {
	f := &fakeReplicas{}
	r := newFakeRun(t, f, "ledger-1", "ledger-2", "ledger-3")
	ctx := context.Background()
	f.set(map[string]string{"ledger-1": "ready: follower of leader ledger-2", "ledger-2": "ready: leader", "ledger-3": "ready: follower of leader ledger-2"}, nil)
	var got []string
	for _, role := range []string{roleLeader, roleFollower, roleFollower, roleFollower} {
		s, err := r.resolve(ctx, fault{kind: faultKill, role: role})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s.name)
	}
	// ledger-2 is killed and ledger-3 elected; ledger-1 still names the
	// old leader for a moment.
	f.set(map[string]string{"ledger-1": "ready: follower of leader ledger-2", "ledger-2": "not ready: follower, cut off: no leader known", "ledger-3": "ready: leader"}, nil)
	if _, _, err := r.leader(ctx, 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "no replica of the ledger was taken for the leader") {
		t.Errorf("one replica saying it leads, the other naming another: %v, want no leader", err)
	}
	f.set(map[string]string{"ledger-1": "ready: follower of leader ledger-3", "ledger-2": "ready: follower of leader ledger-3", "ledger-3": "ready: leader"}, nil)
	for _, role := range []string{roleLeader, roleFollower} {
		s, err := r.resolve(ctx, fault{kind: faultFreeze, role: role})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s.name)
	}
	if want := "ledger-2 ledger-1 ledger-3 ledger-1 ledger-3 ledger-2"; strings.Join(got, " ") != want {
		t.Errorf("faults took %s, want %s", strings.Join(got, " "), want)
	}
	bank := &service{name: "bank-1"}
	if s, err := r.resolve(ctx, fault{kind: faultKill, target: bank}); err != nil || s != bank {
		t.Errorf("a fault of a named process took %v (%v)", s, err)
	}
}

// After the load the soak waits until the replicas' journals are as long
// as each other's, and says which is where when they never are.
func TestWaitForSameHead(t *testing.T) {
	f := &fakeReplicas{}
	r := newFakeRun(t, f, "ledger-1", "ledger-2", "ledger-3")
	f.set(nil, map[string]string{"ledger-1": "1.234567e+06", "ledger-2": "1234567", "ledger-3": "1.234567e+06"})
	rep := &Report{}
	r.waitForSameHead(context.Background(), rep, 300*time.Millisecond)
	if !rep.OK() {
		t.Errorf("replicas at one head: %q", rep.Problems)
	}
	f.set(nil, map[string]string{"ledger-1": "1.234567e+06", "ledger-2": "1.234566e+06", "ledger-3": "1.234567e+06"})
	rep = &Report{}
	r.waitForSameHead(context.Background(), rep, 300*time.Millisecond)
	if rep.OK() || !strings.Contains(rep.Problems[0], "ledger-2 at record 1234566") || !strings.Contains(rep.Problems[0], "did not reach the same head") {
		t.Errorf("a replica behind: %q", rep.Problems)
	}
}

func TestParseJournalRecords(t *testing.T) {
	for page, want := range map[string]uint64{
		"# TYPE cbdc_ledger_journal_records gauge\ncbdc_ledger_journal_records 42\n":               42,
		"cbdc_ledger_journal_records_other 7\ncbdc_ledger_journal_records 9.007199254740992e+15\n": 9007199254740992,
		"go_goroutines 12\ncbdc_ledger_journal_records 0\ncbdc_ledger_circulation_yen 1e+08\n":     0,
	} {
		if got, err := parseJournalRecords(page); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", page, got, err, want)
		}
	}
	for _, page := range []string{"", "cbdc_ledger_journal_records NaN\n", "cbdc_ledger_journal_records -1\n"} {
		if _, err := parseJournalRecords(page); err == nil {
			t.Errorf("%q: no error", page)
		}
	}
}

func TestReplicaHead(t *testing.T) {
	out := "/d/replica-1: OK; head record 12, hash ab12\n/d/replica-2: OK; head record 12, hash ab12\nverdict: OK: every replica sound, all at the same head\n"
	if got := replicaHead(out); got != "record 12, hash ab12" {
		t.Errorf("head %q", got)
	}
}

// A leader's failover, as a wallet sees it, ends with the first payment
// made on an attempt sent after the kill; one answered after the kill but
// sent before it does not count, a follower's kill is not measured, and
// a leader's kill that no payment followed is a problem.
func TestFailover_FirstPaymentSentAfterTheKill(t *testing.T) {
	r := &run{waits: map[string]*FrozenWait{}, cfg: Config{Scenario: &sim.Scenario{}, Replicas: 3, Log: slog.New(slog.DiscardHandler)}}
	start := time.Now()
	kill := func(name, role string) time.Time {
		r.logFault(faultKill, &service{name: name}, role, start)
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.failing[len(r.failing)-1].killed
	}
	paid := func(sent, answered time.Time) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.paidAfter(sent, answered)
	}
	k1 := kill("ledger-1", roleLeader)
	paid(k1.Add(-time.Millisecond), k1.Add(5*time.Millisecond)) // sent before the kill
	paid(k1.Add(time.Second), k1.Add(3*time.Second))
	paid(k1.Add(time.Second), k1.Add(4*time.Second)) // the second made after it
	r.logFault(faultKill, &service{name: "ledger-3"}, roleFollower, start)
	k2 := kill("ledger-2", roleLeader)
	paid(k2, k2.Add(time.Second))
	kill("ledger-3", roleLeader) // nothing made after it
	r.logFault(faultFreeze, &service{name: "ledger-1"}, roleFollower, start)
	rep := r.newReport(time.Minute)
	if rep.LeaderKills != 3 || rep.FollowerKills != 1 || rep.FollowerFreezes != 1 || rep.LeaderFreezes != 0 {
		t.Errorf("leader kills %d, follower kills %d, leader freezes %d, follower freezes %d; want 3, 1, 0, 1",
			rep.LeaderKills, rep.FollowerKills, rep.LeaderFreezes, rep.FollowerFreezes)
	}
	if rep.Failovers != 2 || rep.FailoverP50 != time.Second || rep.FailoverMax != 3*time.Second {
		t.Errorf("failovers %d, p50 %s, max %s; want 2, 1s, 3s", rep.Failovers, rep.FailoverP50, rep.FailoverMax)
	}
	if got := rep.Faults[0]; got.Process != "ledger-1" || got.Role != roleLeader || got.Kind != "SIGKILL" || got.Failover != 3*time.Second {
		t.Errorf("first fault %+v", got)
	}
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "no payment was made after the SIGKILL") || !strings.Contains(rep.Problems[0], "ledger-3") {
		t.Errorf("problems %q, want one saying no payment followed ledger-3's kill", rep.Problems)
	}
	var sb strings.Builder
	rep.Print(&sb)
	for _, says := range []string{"the ledger as 3 replicas", "3 of the leader, 1 of a follower", "p50 1s, max 3s", "SIGKILL ledger-2 (leader), next payment made 1s later", "SIGSTOP ledger-1 (follower)"} {
		if !strings.Contains(sb.String(), says) {
			t.Errorf("the report does not say %q:\n%s", says, sb.String())
		}
	}
}

func TestPercentiles(t *testing.T) {
	for _, c := range []struct {
		in       []time.Duration
		n        int
		p50, max time.Duration
	}{
		{nil, 0, 0, 0},
		{[]time.Duration{5}, 1, 5, 5},
		{[]time.Duration{9, 1}, 2, 1, 9},
		{[]time.Duration{3, 1, 2}, 3, 2, 3},
		{[]time.Duration{4, 1, 3, 2}, 4, 2, 4},
	} {
		n, p50, longest := percentiles(c.in)
		if n != c.n || p50 != c.p50 || longest != c.max {
			t.Errorf("%v: %d %v %v, want %d %v %v", c.in, n, p50, longest, c.n, c.p50, c.max)
		}
	}
}

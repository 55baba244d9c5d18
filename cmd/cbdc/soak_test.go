package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/soak"
)

// The short soak of make test (make soak runs the long one): the ledger
// and two banks as processes, each killed twice with SIGKILL under load and
// started again; nothing answered may be lost or doubled and the audit
// must pass.
func TestSoak_KilledUnderLoad(t *testing.T) {
	t.Parallel()
	rep := soakRun(t, "-duration", "24s", "-kills", "2")
	if rep.Kills["ledger"] != 2 || rep.Kills["bank-1"] != 1 || rep.Kills["bank-2"] != 1 || rep.Restarts != 4 {
		t.Errorf("kills %v and %d restarts, want the ledger, bank-1 and bank-2 killed 2, 1 and 1 times and each started again", rep.Kills, rep.Restarts)
	}
}

// The same over TLS: the services start again with their certificates
// and the wallets reconnect over wss://.
func TestSoak_KilledUnderLoadOverTLS(t *testing.T) {
	t.Parallel()
	rep := soakRun(t, "-duration", "12s", "-kills", "1", "-tls")
	if !rep.TLS || rep.Kills["ledger"] != 1 || rep.Kills["bank-1"] != 1 || rep.Restarts != 2 {
		t.Errorf("TLS %v, kills %v, %d restarts; want TLS and the ledger and bank-1 killed once each and started again", rep.TLS, rep.Kills, rep.Restarts)
	}
}

// soakRun runs cbdc soak with args and requires a clean verdict.
func soakRun(t *testing.T, args ...string) soak.Report {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "soak.json")
	p := startProc(t, "soak", append([]string{"soak", "-down", "1s", "-quiet", "-data", filepath.Join(dir, "run"), "-json", out}, args...)...)
	select {
	case <-p.done:
	case <-time.After(10 * time.Minute):
		t.Fatal("the soak did not end within 10 minutes")
	}
	if p.err != nil {
		t.Fatalf("cbdc soak: %v\n%s%s", p.err, p.stdout.String(), p.stderr.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep soak.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("cbdc soak:\n%s", p.stdout.String())
	if rep.Paid == 0 || rep.Checked != rep.Paid || rep.HoldingsChecked != rep.Parties || rep.Parties == 0 {
		t.Errorf("%d payments made, %d checked, holdings of %d of %d parties checked: want every one", rep.Paid, rep.Checked, rep.HoldingsChecked, rep.Parties)
	}
	if rep.Lost+rep.Doubled+rep.Unexpected+rep.HoldingsWrong+rep.Unsettled != 0 || rep.Audit != "OK" || !rep.OK() {
		t.Errorf("lost %d, doubled %d, unexpected %d, wrong holdings %d, unsettled %d, audit %s: %q",
			rep.Lost, rep.Doubled, rep.Unexpected, rep.HoldingsWrong, rep.Unsettled, rep.Audit, rep.Problems)
	}
	return rep
}

// The soak against a ledger of three replica processes: its leader
// killed twice and a follower once, the leader frozen once, each found
// through /readyz when its fault comes; the banks follow the leader, and
// nothing answered may be lost or doubled, the replicas must end at one
// journal head and each pass its audit. It judges no timing: the bound
// on answers while the leader is frozen is as long as a wallet waits.
func TestSoak_ReplicatedLeaderAndFollowerKilled(t *testing.T) {
	t.Parallel()
	rep := soakRun(t, "-replicas", "3", "-only", "ledger", "-duration", "24s", "-kills", "3", "-freezes", "1", "-frozen", "3s",
		"-frozen-ledger-bound", "30s")
	if rep.Replicas != 3 || rep.LeaderKills != 2 || rep.FollowerKills != 1 || rep.LeaderFreezes != 1 || rep.FollowerFreezes != 0 {
		t.Errorf("%d replicas; kills of the leader %d, of a follower %d; freezes of the leader %d, of a follower %d: want 3; 2, 1; 1, 0",
			rep.Replicas, rep.LeaderKills, rep.FollowerKills, rep.LeaderFreezes, rep.FollowerFreezes)
	}
	if rep.Failovers != rep.LeaderKills || rep.FailoverP50 <= 0 || rep.FailoverMax < rep.FailoverP50 {
		t.Errorf("failovers measured %d of %d leader kills, p50 %s, max %s", rep.Failovers, rep.LeaderKills, rep.FailoverP50, rep.FailoverMax)
	}
	if rep.KillCount() != 3 || rep.Restarts != 3 {
		t.Errorf("kills %v, %d restarts: want 3 kills, each started again", rep.Kills, rep.Restarts)
	}
	for name := range rep.Kills {
		if !strings.HasPrefix(name, "ledger-") {
			t.Errorf("kills %v: want only the ledger's replicas killed", rep.Kills)
		}
	}
	var roles []string
	for _, f := range rep.Faults {
		if !strings.HasPrefix(f.Process, "ledger-") {
			t.Errorf("fault %+v: want a replica", f)
		}
		roles = append(roles, f.Kind+" "+f.Role)
	}
	if got, want := strings.Join(roles, ", "), "SIGKILL leader, SIGSTOP leader, SIGKILL follower, SIGKILL leader"; got != want {
		t.Errorf("faults %s, want %s", got, want)
	}
	if !strings.HasPrefix(rep.ReplicaHead, "record ") {
		t.Errorf("the replicas' head %q, want the record they all end at", rep.ReplicaHead)
	}
}

// A count of replicas that makes no majority is refused before anything
// starts, with the reason.
func TestSoakFlags_ReplicasNeedAMajority(t *testing.T) {
	for _, c := range []struct {
		n    string
		says string
	}{
		{"2", "the majority of 2 is both"},
		{"4", "a majority of its replicas (3 of 4)"},
		{"-1", "replicas must be 0 or more"},
		{"9", "more than the 7"},
	} {
		var out, errOut strings.Builder
		err := Run(context.Background(), []string{"soak", "-replicas", c.n, "-data", filepath.Join(t.TempDir(), "run")}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "-replicas") {
			t.Errorf("-replicas %s: %v, want an error saying %q", c.n, err, c.says)
		}
	}
}

package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/freeport"
)

// The operator grows the group by one and shrinks it by its leader, with
// `cbdc replicas`; the group keeps a leader, and the newcomer catches up
// and serves as a follower.
func TestReplicasCommand_AddAndRemove(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four ledger processes; runs without -short")
	}
	dir := t.TempDir()
	g := startReplicas(t, dir, 1)
	lead := g.leader(t, 10*time.Second)
	token := filepath.Join(dir, "credentials", OperatorTokenFile)

	out, errOut, code := cli(t, nil, "replicas", "-ledger", g.urls(), "list")
	if code != 0 || strings.Count(out, "ledger-") != 3 || !strings.Contains(out, "leader") {
		t.Fatalf("list: code %d, out %q, err %q", code, out, errOut)
	}
	if _, errOut, code := cli(t, nil, "replicas", "-ledger", g.urls(), "add", "ledger-4=127.0.0.1:1"); code != exitUsage || !strings.Contains(errOut, "-token") {
		t.Errorf("add without a token: code %d, %q", code, errOut)
	}
	bad := writeFile(t, "not-the-token\n")
	if _, errOut, code := cli(t, nil, "replicas", "-ledger", g.urls(), "-token", bad, "add", "ledger-4=127.0.0.1:1"); code != exitFailed || !strings.Contains(errOut, "unauthenticated") {
		t.Errorf("add with the wrong token: code %d, %q", code, errOut)
	}

	newAddrs := freeport.Loopback(t, 2)
	raft, web := newAddrs[0], newAddrs[1]
	newcomer := startProc(t, "ledger-4", "ledger", "-replica", "ledger-4", "-raft", raft, "-join",
		"-data", filepath.Join(dir, "replica-4"), "-credentials", filepath.Join(dir, "credentials"), "-listen", web, "-banks", "1", "-float", "50000000")
	newcomer.waitFor(t, ledgerServing)
	out, errOut, code = cli(t, nil, "replicas", "-ledger", g.urls(), "-token", token, "add", "ledger-4="+raft)
	if code != 0 || !strings.Contains(out, "ledger-4") {
		t.Fatalf("add: code %d, out %q, err %q", code, out, errOut)
	}
	g.http = append(g.http, web)
	g.procs = append(g.procs, newcomer)
	waitReadyz(t, "http://"+web, http.StatusOK, 10*time.Second) // a follower that knows its leader

	gone := fmt.Sprintf("ledger-%d", lead+1)
	out, errOut, code = cli(t, nil, "replicas", "-ledger", g.urls(), "-token", token, "remove", gone)
	if code != 0 || strings.Contains(out, gone+" ") {
		t.Fatalf("remove %s: code %d, out %q, err %q", gone, code, out, errOut)
	}
	g.procs[lead].interrupt(t)
	g.http = append(g.http[:lead:lead], g.http[lead+1:]...)
	g.leader(t, 10*time.Second)
	out, errOut, code = cli(t, nil, "replicas", "-ledger", g.urls(), "list")
	if code != 0 || strings.Count(out, "ledger-") != 3 || !strings.Contains(out, "ledger-4") || strings.Contains(out, gone+" ") {
		t.Errorf("list after the changes: code %d, out %q, err %q", code, out, errOut)
	}
	if _, errOut, code := cli(t, nil, "replicas", "-ledger", g.urls(), "-token", token, "remove", "ledger-9"); code != exitFailed || !strings.Contains(errOut, "no replica") {
		t.Errorf("removing an unknown replica: code %d, %q", code, errOut)
	}
}

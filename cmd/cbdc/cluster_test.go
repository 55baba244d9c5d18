package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/demo"
	"github.com/digital-yen/cbdc-sandbox/internal/freeport"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// demoSite drives a demo page's API as its page does.
type demoSite struct {
	t   *testing.T
	url string // ends in /
}

// call sends body (nil: a GET) to path and decodes the answer into out,
// requiring status want; it returns the answer's body.
func (d demoSite) call(path string, body any, want int, out any) []byte {
	d.t.Helper()
	method, rd := http.MethodGet, io.Reader(nil)
	if body != nil {
		b, _ := json.Marshal(body)
		method, rd = http.MethodPost, bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, d.url+strings.TrimPrefix(path, "/"), rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		d.t.Fatalf("%s %s: %s, want %d: %s", method, path, resp.Status, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			d.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return data
}

// replicas polls the demo's replicas panel until ok says it is as
// wanted, and fails the test after within.
func (d demoSite) replicas(within time.Duration, what string, ok func(demo.ReplicasView) bool) demo.ReplicasView {
	d.t.Helper()
	var v demo.ReplicasView
	for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		d.call("/api/replicas", nil, http.StatusOK, &v)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("the replicas panel did not show %s within %s: %+v", what, within, v)
		}
	}
}

// `cbdc cluster` runs the ledger as three replica processes and the
// banks and demo beside them: the demo's wallets pay online and offline
// through them, its stop control kills the leader's process (which is
// gone afterwards), the pause is measured with a new leader, payments go
// on, and the killed replica, started again from the page, catches up
// with the others; after Ctrl-C every replica's journal audits alike.
func TestCluster_DemoKillsTheLeaderProcess(t *testing.T) {
	dir := t.TempDir()
	addrs := freeport.Loopback(t, 6)
	httpAddrs, raftAddrs := addrs[:3], addrs[3:]
	p := startProc(t, "cluster", "cluster", "-data", dir, "-ledger", strings.Join(httpAddrs, ","), "-raft", strings.Join(raftAddrs, ","),
		"-listen", "127.0.0.1:0", "-demo", "127.0.0.1:0", "-every", "1h", "-float", "30000000")
	p.waitFor(t, regexp.MustCompile(`Press Ctrl-C`))
	banner := p.stdout.String()
	for _, want := range []string{"running as 3 replica processes", "with 2 intermediaries", "data " + filepath.Join(dir, "replica-2"),
		"log " + filepath.Join(dir, "replica-3.log"), "-token " + filepath.Join(dir, "credentials", OperatorTokenFile)} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner does not say %q:\n%s", want, banner)
		}
	}
	pids := map[string]int{}
	for _, m := range regexp.MustCompile(`(ledger-\d)  pid (\d+)`).FindAllStringSubmatch(banner, -1) {
		pids[m[1]], _ = strconv.Atoi(m[2])
	}
	m := regexp.MustCompile(`Demo: open (\S+) in a browser`).FindStringSubmatch(banner)
	if m == nil || len(pids) != 3 {
		t.Fatalf("no demo address or not three replica pids in the banner:\n%s", banner)
	}
	site := demoSite{t: t, url: m[1]}

	var alice, bob demo.WalletView
	site.call("/api/wallets", map[string]string{"name": "Alice", "bank": "bank-1"}, http.StatusCreated, &alice)
	site.call("/api/wallets", map[string]string{"name": "Bob", "bank": "bank-2"}, http.StatusCreated, &bob)
	site.call("/api/wallets/"+alice.ID+"/withdraw", map[string]any{"amount": 20_000}, http.StatusOK, nil)
	site.call("/api/wallets/"+alice.ID+"/pay", map[string]any{"to": bob.ID, "amount": 7_000}, http.StatusOK, nil)
	// Offline: the leader settles what Bob hands in, and the overview
	// reads settlement's figures from it.
	site.call("/api/wallets/"+alice.ID+"/offline/fund", map[string]any{"amount": 5_000}, http.StatusOK, nil)
	site.call("/api/wallets/"+bob.ID+"/offline/fund", map[string]any{"amount": 0}, http.StatusOK, nil)
	site.call("/api/wallets/"+alice.ID+"/offline/pay", map[string]any{"to": bob.ID, "amount": 1_200}, http.StatusOK, nil)
	site.call("/api/wallets/"+bob.ID+"/offline/online", map[string]any{}, http.StatusOK, nil)
	var st demo.State
	site.call("/api/state", nil, http.StatusOK, &st)
	if st.Offline == nil || st.Offline.Settled != 1 || st.Offline.Devices != 2 || !st.Conserved {
		t.Errorf("the overview after one voucher settled: conserved %v, offline %+v", st.Conserved, st.Offline)
	}

	before := site.replicas(10*time.Second, "a leader", func(v demo.ReplicasView) bool { return v.Leader != "" })
	var stopped demo.ReplicasView
	site.call("/api/replicas/stop", map[string]string{"replica": "leader"}, http.StatusOK, &stopped)
	if err := syscall.Kill(pids[before.Leader], 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("%s's process %d after the stop: kill -0 says %v, want no such process", before.Leader, pids[before.Leader], err)
	}
	after := site.replicas(60*time.Second, "the pause measured", func(v demo.ReplicasView) bool {
		return len(v.Pauses) > 0 && (v.Pauses[0].Measured() || v.Pauses[0].Unmeasured)
	})
	pause := after.Pauses[0]
	if !pause.Measured() || pause.Stopped != before.Leader || !pause.Led || pause.Leader == before.Leader || pause.Leader == "" {
		t.Fatalf("the pause after the leader %s was killed: %+v", before.Leader, pause)
	}
	t.Logf("pause after killing the leader's process: %.0f ms, new leader %s", pause.PauseMS, pause.Leader)
	payWithin(t, site, alice.ID, bob.ID, 1_000, 10*time.Second)
	var refused struct{ Error protocol.Error }
	site.call("/api/replicas/stop", map[string]string{"replica": "leader"}, http.StatusConflict, &refused)
	if refused.Error.Code != "no_majority" || !strings.Contains(refused.Error.Message, "stopping the leader would leave 1 of 3") {
		t.Errorf("stopping the leader with two of three running: %+v", refused.Error)
	}

	site.call("/api/replicas/start", map[string]string{"replica": before.Leader}, http.StatusOK, nil)
	site.replicas(60*time.Second, "every replica running at one head", func(v demo.ReplicasView) bool {
		for _, r := range v.Replicas {
			if r.Role == "stopped" || r.Head != v.Replicas[0].Head {
				return false
			}
		}
		return true
	})
	site.call("/api/state", nil, http.StatusOK, &st)
	ops := 0
	for _, pt := range st.Throughput {
		ops += pt.Ops
	}
	if !st.Conserved || ops == 0 {
		t.Errorf("the overview at the end: conserved %v, %d operations followed in the journal", st.Conserved, ops)
	}

	p.interrupt(t)
	var dirs []string
	for i := 1; i <= 3; i++ {
		dirs = append(dirs, filepath.Join(dir, fmt.Sprintf("replica-%d", i)))
	}
	if out, err := run(t, context.Background(), append([]string{"audit"}, dirs...)...); err != nil || !strings.Contains(out, "every replica sound, all at the same head") {
		t.Errorf("audit of the replicas: %v\n%s", err, out)
	}
}

// payWithin has a demo wallet pay another, asking again while its bank
// answers that the ledger is unavailable.
func payWithin(t *testing.T, site demoSite, from, to string, amount int64, within time.Duration) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"to": to, "amount": amount})
	for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodPost, site.url+"api/wallets/"+from+"/pay", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a payment after the failover: %s: %s", resp.Status, body)
		}
	}
}

func TestCluster_RejectsBadSettings(t *testing.T) {
	sandboxDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(sandboxDir, "ledger"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-replicas", "2"}, "-replicas must be 3 to"},
		{[]string{"-ledger", "127.0.0.1:7601,127.0.0.1:7602"}, "-ledger takes one host:port (the others take the next ports) or 3, one per replica; got 2"},
		{[]string{"-raft", "nowhere"}, `-raft: "nowhere" is not host:port`},
		{[]string{"-ledger", "127.0.0.1:65535"}, "3 replicas from port 65535 would run past port 65535"},
		{[]string{"-ledger", "127.0.0.1:0"}, "with a port from 1 on"},
		{[]string{"-banks", "0"}, "-banks must be 1 to 50"},
		{[]string{"-data", sandboxDir}, "holds the central ledger of a cbdc sandbox"},
	} {
		out, err := run(t, context.Background(), append([]string{"cluster", "-demo", ""}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("cbdc cluster %v: %v, want an error saying %q\n%s", c.args, err, c.want, out)
		}
	}
}

package soak

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A replicated ledger (Config.Replicas 3 or more) runs as that many `cbdc
// ledger -replica` processes, ledger-1 … ledger-N, each with its own data
// directory DIR/replica-N, the credentials they share in DIR/credentials,
// and a Raft and an HTTP port fixed before the first start, since every
// replica is told the others' Raft addresses and every bank their URLs.

// MaxReplicas is the most replicas a soak runs on its one machine.
const MaxReplicas = 7

// CheckReplicas says whether n replicas make a ledger the soak can run:
// 0 or 1 for the lone ledger, or an odd number from 3 to MaxReplicas.
func CheckReplicas(n int) error {
	switch {
	case n < 0:
		return fmt.Errorf("soak: replicas must be 0 or more, got %d", n)
	case n == 2:
		return errors.New("soak: 2 replicas cannot make a replicated ledger: a group needs a majority of its replicas to commit, and the majority of 2 is both, so losing either stops the ledger; give 3 or 5 (or 0 for the lone ledger)")
	case n > 1 && n%2 == 0:
		return fmt.Errorf("soak: %d replicas: a group needs a majority of its replicas (%d of %d) to commit, so it survives no more failures than %d would; give an odd number such as %d", n, n/2+1, n, n-1, n-1)
	case n > MaxReplicas:
		return fmt.Errorf("soak: %d replicas is more than the %d a soak runs on one machine", n, MaxReplicas)
	}
	return nil
}

// replicated says whether the run's ledger is a group of replicas.
func (c *Config) replicated() bool { return c.Replicas > 1 }

// replicaPorts are the HTTP and Raft ports of the replicas, kept across
// restarts: at Ports, bank N is on Ports+N, replica N's HTTP on
// Ports+banks+N and its Raft transport on Ports+banks+replicas+N; at 0
// they are free ports below the kernel's ephemeral range, where no
// connection's own end can take a port while its replica is down.
func (r *run) replicaPorts() (httpPorts, raftPorts []int, err error) {
	n, banks := r.cfg.Replicas, r.cfg.Scenario.Banks
	if r.cfg.Ports != 0 {
		for i := 1; i <= n; i++ {
			httpPorts = append(httpPorts, r.cfg.Ports+banks+i)
			raftPorts = append(raftPorts, r.cfg.Ports+banks+n+i)
		}
		return httpPorts, raftPorts, nil
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, nil, err
	}
	return ports[:n], ports[n:], nil
}

// freePorts finds n loopback ports nothing listens on, below the
// ephemeral range (or anywhere, where the kernel does not say its range).
func freePorts(n int) ([]int, error) {
	low := ephemeralLow()
	var ports []int
	for try := 0; len(ports) < n && try < 1000; try++ {
		var ln net.Listener
		var err error
		if low > 12000 {
			p := 10000 + rand.IntN(low-10000)
			if slices.Contains(ports, p) {
				continue
			}
			ln, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		} else {
			ln, err = net.Listen("tcp", "127.0.0.1:0")
		}
		if err != nil {
			continue
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	if len(ports) < n {
		return nil, fmt.Errorf("soak: found %d free loopback ports of the %d the replicas need", len(ports), n)
	}
	return ports, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range, 0 when
// it does not say.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	low, _ := strconv.Atoi(f[0])
	return low
}

// startReplicas starts every replica, then waits for one to lead.
func (r *run) startReplicas(ctx context.Context, serveTLS []string) error {
	dir, n := r.cfg.Dir, r.cfg.Replicas
	httpPorts, raftPorts, err := r.replicaPorts()
	if err != nil {
		return err
	}
	var peers []string
	for i := range n {
		peers = append(peers, fmt.Sprintf("ledger-%d=127.0.0.1:%d", i+1, raftPorts[i]))
	}
	for i := range n {
		id := fmt.Sprintf("ledger-%d", i+1)
		raft := "127.0.0.1:" + strconv.Itoa(raftPorts[i])
		s := &service{name: id, binary: r.cfg.Binary, serving: ledgerServing, logPath: logPathIn(dir, id),
			listen: "127.0.0.1:" + strconv.Itoa(httpPorts[i]),
			args: func(listen string) []string {
				return append([]string{"ledger", "-replica", id, "-raft", raft, "-peers", strings.Join(peers, ","),
					"-data", filepath.Join(dir, fmt.Sprintf("replica-%d", i+1)), "-credentials", filepath.Join(dir, "credentials"),
					"-listen", listen, "-banks", strconv.Itoa(r.cfg.Scenario.Banks)}, serveTLS...)
			}}
		// Replicas start one after the other: the first writes the
		// credentials the others read.
		if err := s.start(ctx); err != nil {
			return err
		}
		r.replicas = append(r.replicas, s)
	}
	_, _, err = r.leader(ctx, leaderWait)
	return err
}

// ledgerURLs is what a bank is given as -ledger: the lone ledger's URL,
// or every replica's, comma-separated.
func (r *run) ledgerURLs() string {
	if !r.cfg.replicated() {
		return r.ledger.url()
	}
	var urls []string
	for _, s := range r.replicas {
		urls = append(urls, r.scheme()+s.listen)
	}
	return strings.Join(urls, ",")
}

func (r *run) scheme() string {
	if r.cfg.TLS {
		return "https://"
	}
	return "http://"
}

// Bounds of the replicated ledger's checks.
const (
	leaderWait = 30 * time.Second       // for a group to say who leads
	probeWait  = 500 * time.Millisecond // for one replica's answer: a frozen one never answers
	headWait   = time.Minute            // for the replicas to reach the same journal head
)

// readiness is what a replica's /readyz says.
type readiness struct {
	leader string // the replica it says leads: itself when it leads; "" when it knows none
	says   string // its answer, or why there was none
}

// readyz asks replica s who leads.
func (r *run) readyz(ctx context.Context, s *service) readiness {
	body, err := r.get(ctx, s, "/readyz")
	if err != nil {
		return readiness{says: err.Error()}
	}
	return parseReadyz(s.name, body)
}

// parseReadyz reads a replica's /readyz answer: "ready: leader", "ready:
// follower of leader ledger-2", or "not ready: …" (the status is in the
// text).
func parseReadyz(self, body string) readiness {
	body = strings.TrimSpace(body)
	rd := readiness{says: body}
	rest, ok := strings.CutPrefix(body, "ready: ")
	switch {
	case !ok:
	case rest == "leader":
		rd.leader = self
	default:
		if _, id, ok := strings.Cut(rest, " of leader "); ok {
			rd.leader = strings.TrimSpace(id)
		}
	}
	return rd
}

// get reads a path of a replica's HTTP server.
func (r *run) get(ctx context.Context, s *service, path string) (string, error) {
	pctx, cancel := context.WithTimeout(ctx, probeWait)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, r.scheme()+s.listen+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := r.probe.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK && !strings.HasPrefix(string(b), "not ready") {
		return "", fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), nil
}

// agreedLeader picks, from the replicas' answers, the one that says it
// leads and that a majority of the group takes for the leader (itself
// among them), so a replica just continued after a freeze, still thinking
// it leads, is not taken for the leader.
func agreedLeader(names []string, answers []readiness) (int, bool) {
	for i, a := range answers {
		if a.leader != names[i] {
			continue
		}
		votes := 0
		for _, b := range answers {
			if b.leader == names[i] {
				votes++
			}
		}
		if votes > len(names)/2 {
			return i, true
		}
	}
	return -1, false
}

// leader finds the replica that leads now and the others, asking each
// replica's /readyz until a majority agree, for up to within.
func (r *run) leader(ctx context.Context, within time.Duration) (*service, []*service, error) {
	names := make([]string, len(r.replicas))
	for i, s := range r.replicas {
		names[i] = s.name
	}
	deadline := time.Now().Add(within)
	for {
		answers := make([]readiness, len(r.replicas))
		for i, s := range r.replicas {
			answers[i] = r.readyz(ctx, s)
		}
		if i, ok := agreedLeader(names, answers); ok {
			var followers []*service
			for j, s := range r.replicas {
				if j != i {
					followers = append(followers, s)
				}
			}
			return r.replicas[i], followers, nil
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if time.Now().After(deadline) {
			var said []string
			for i, a := range answers {
				said = append(said, fmt.Sprintf("%s: %q", names[i], a.says))
			}
			return nil, nil, fmt.Errorf("soak: no replica of the ledger was taken for the leader by a majority within %s (%s); see %s",
				within, strings.Join(said, "; "), filepath.Join(r.cfg.Dir, "logs"))
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// journalRecords is the length of a replica's journal, from its metrics.
func (r *run) journalRecords(ctx context.Context, s *service) (uint64, error) {
	body, err := r.get(ctx, s, "/metrics")
	if err != nil {
		return 0, err
	}
	return parseJournalRecords(body)
}

// parseJournalRecords finds cbdc_ledger_journal_records in a metrics page.
func parseJournalRecords(page string) (uint64, error) {
	sc := bufio.NewScanner(strings.NewReader(page))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "cbdc_ledger_journal_records ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(f >= 0) || f > 1<<63 {
			return 0, fmt.Errorf("cbdc_ledger_journal_records %q is not a count", v)
		}
		return uint64(f), nil
	}
	return 0, errors.New("no cbdc_ledger_journal_records in its metrics")
}

// waitForSameHead waits, once the banks are stopped and nothing more is
// written, until every replica's journal is as long as the others' (for
// up to within), so that the audit compares replicas that have caught up.
func (r *run) waitForSameHead(ctx context.Context, rep *Report, within time.Duration) {
	deadline := time.Now().Add(within)
	for {
		var said []string
		heads := map[uint64]bool{}
		for _, s := range r.replicas {
			n, err := r.journalRecords(ctx, s)
			if err != nil {
				said = append(said, fmt.Sprintf("%s: %v", s.name, err))
				heads[^uint64(0)] = true
				continue
			}
			said = append(said, fmt.Sprintf("%s at record %d", s.name, n))
			heads[n] = true
		}
		if len(heads) == 1 {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			rep.problem("the replicas' journals did not reach the same head within %s of the banks stopping: %s", within, strings.Join(said, ", "))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// auditReplicas runs `cbdc audit` on every stopped replica's data, which
// audits each and compares their journals' heads.
func (r *run) auditReplicas(ctx context.Context, rep *Report) {
	args := []string{"audit"}
	for i := range r.replicas {
		args = append(args, filepath.Join(r.cfg.Dir, fmt.Sprintf("replica-%d", i+1)))
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(actx, r.cfg.Binary, args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil && strings.Contains(string(out), "all at the same head"):
		rep.Audit = "OK"
		rep.ReplicaHead = replicaHead(string(out))
	case err == nil || errors.As(err, &exit):
		rep.Audit = "failed"
		rep.problem("cbdc %s: %v\n%s", strings.Join(args, " "), err, out)
	default:
		rep.Audit = "not run"
		rep.problem("cbdc %s: %v", strings.Join(args, " "), err)
	}
}

// replicaHead takes the head the replicas share out of the audit's lines
// "DIR: OK; head record N, hash H".
func replicaHead(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if _, head, ok := strings.Cut(line, "; head "); ok {
			return strings.TrimSpace(head)
		}
	}
	return ""
}

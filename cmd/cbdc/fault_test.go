package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/scenarios"
	"github.com/digital-yen/cbdc-sandbox/sim"
	"github.com/digital-yen/cbdc-sandbox/soak"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// The faults an operator relies on (issue 15), from outside the
// processes: the ledger killed, or stopped with SIGSTOP, under load; a
// bank stopped; a bank started before its ledger. CBDC_FAULT_LONG=1 runs
// the long variants.

// longFaults says whether to run the long variants.
func longFaults() bool { return os.Getenv("CBDC_FAULT_LONG") != "" }

// ephemeralPort returns a free loopback port inside Linux's default
// ephemeral range (32768-60999), where a dial to a port nothing listens
// on can connect to itself.
func ephemeralPort(t *testing.T) int { return ephemeralPorts(t, 1) }

// ephemeralPorts returns the first of n free consecutive loopback ports
// inside that range.
func ephemeralPorts(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		port := 32768 + rand.IntN(60999-32768+2-n)
		free := true
		for p := port; p < port+n && free; p++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if free = err == nil; free {
				ln.Close()
			}
		}
		if free {
			return port
		}
	}
	t.Fatalf("no %d free consecutive ports in 32768-60999", n)
	return 0
}

// faultSoak runs the soak's load and checks against the cbdc binary with
// cfg's faults, and requires nothing lost, doubled or made up and a
// passing audit.
func faultSoak(t *testing.T, cfg soak.Config) *soak.Report {
	t.Helper()
	raw, err := scenarios.Files.ReadFile("soak.json")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Scenario, err = sim.ParseScenario("soak.json", raw); err != nil {
		t.Fatal(err)
	}
	cfg.Binary, cfg.Dir = cbdcBinary(t), filepath.Join(t.TempDir(), "run")
	cfg.Log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rep, err := soak.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("soak: %v", err)
	}
	var sb strings.Builder
	rep.Print(&sb)
	t.Logf("%s", sb.String())
	if !rep.OK() || rep.Paid == 0 || rep.Checked != rep.Paid || rep.Audit != "OK" {
		t.Errorf("made %d, checked %d, audit %s: %q", rep.Paid, rep.Checked, rep.Audit, rep.Problems)
	}
	if t.Failed() {
		for _, name := range []string{"ledger", "bank-1", "bank-2"} {
			if b, err := os.ReadFile(filepath.Join(cfg.Dir, "logs", name+".log")); err == nil {
				t.Logf("%s's log (the end):\n%s", name, tail(string(b), 4000))
			}
		}
	}
	return rep
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimSpace(string(p)))
	return len(p), nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// The ledger, on a port inside the ephemeral range, is killed under
// load three times and started again on the same port after five
// seconds: its bind succeeds every time, the first time, and every
// payment a wallet was told was made is booked once. Before, a bank's
// dials at the dead port without backoff ended up connected to
// themselves, and the TIME-WAIT they left kept the ledger out of its
// port for minutes.
func TestFault_LedgerKilledInEphemeralRange(t *testing.T) {
	cfg := soak.Config{Only: "ledger", Kills: 3, Down: 5 * time.Second, Duration: 30 * time.Second, Ports: ephemeralPorts(t, 3)}
	if longFaults() {
		cfg.Kills, cfg.Down, cfg.Duration = 10, 10*time.Second, 4*time.Minute
	}
	rep := faultSoak(t, cfg)
	if rep.Kills["ledger"] != cfg.Kills || rep.Restarts != cfg.Kills || rep.StartRetries != 0 {
		t.Errorf("kills %v, %d restarts, %d tried again: want the ledger killed and started again %d times, each at the first try",
			rep.Kills, rep.Restarts, rep.StartRetries, cfg.Kills)
	}
}

// The ledger stopped with SIGSTOP under load, for longer than the
// bound: wallets are answered unavailable within it (2 s, checked with
// room for a loaded machine) instead of waiting as long as the ledger is
// stopped, and once it goes on nothing was lost.
func TestFault_LedgerFrozenUnderLoad(t *testing.T) {
	cfg := soak.Config{Only: "ledger", Freezes: 2, Frozen: 8 * time.Second, Duration: 30 * time.Second, FrozenLedgerBound: 5 * time.Second}
	if longFaults() {
		cfg.Freezes, cfg.Frozen, cfg.Duration = 6, 20*time.Second, 4*time.Minute
	}
	rep := faultSoak(t, cfg)
	if w := rep.FrozenWaits["ledger"]; w == nil || w.Sent == 0 || w.Answers["unavailable"] == 0 {
		t.Errorf("while the ledger was stopped: %+v; want payments sent and answered unavailable", w)
	}
	if rep.SlowestAnswer > 5*time.Second || rep.WalletTimeouts != 0 {
		t.Errorf("with the ledger stopped for %s, the slowest answer took %s and %d attempts got none; want every answer within about 2s",
			cfg.Frozen, rep.SlowestAnswer, rep.WalletTimeouts)
	}
}

// A bank stopped with SIGSTOP under load: its wallets' requests wait,
// unanswered and with their connections open, for as long as it is
// stopped or their own timeout allows (the soak's wallets wait 30 s);
// when it goes on it answers them, and nothing was lost or doubled.
func TestFault_BankFrozenUnderLoad(t *testing.T) {
	cfg := soak.Config{Only: "banks", Freezes: 2, Frozen: 4 * time.Second, Duration: 20 * time.Second}
	if longFaults() {
		cfg.Freezes, cfg.Frozen, cfg.Duration = 6, 40*time.Second, 5*time.Minute // past the wallets' 30 s
	}
	rep := faultSoak(t, cfg)
	t.Logf("with a bank stopped for %s, its wallets' slowest answer took %s; %d attempts got none within 30 s",
		cfg.Frozen, rep.SlowestAnswer, rep.WalletTimeouts)
	if rep.Freezes["bank-1"]+rep.Freezes["bank-2"] != cfg.Freezes {
		t.Errorf("stops %v, want %d of the banks", rep.Freezes, cfg.Freezes)
	}
}

// readyz returns a bank's /readyz status.
func readyzStatus(url string) (int, string) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// waitReadyz waits until /readyz answers want and says how long that took.
func waitReadyz(t *testing.T, url string, want int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got, body := readyzStatus(url)
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s/readyz still answers %d (%s) after %s, want %d", url, got, body, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signal sends sig to a process the test started.
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s to %s: %v (%s)", sig, p.name, err, p.exit())
	}
}

// payRetrying pays with one request id until the bank answers it for
// sure, waiting at least the retry hint between tries.
func payRetrying(t *testing.T, ctx context.Context, c interface {
	Pay(context.Context, string, string, int64) (*protocol.Paid, error)
}, id, to string, amount int64) *protocol.Paid {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		p, err := c.Pay(ctx, id, to, amount)
		var pe *protocol.Error
		if err == nil {
			return p
		}
		if !errors.As(err, &pe) || pe.Code != protocol.CodeUnavailable || time.Now().After(deadline) {
			t.Fatalf("pay %s: %v", id, err)
		}
		time.Sleep(max(pe.RetryAfter(), 100*time.Millisecond))
	}
}

// A bank's readiness and its answers follow its ledger: stopped with
// SIGSTOP, the bank answers a payment unavailable within the bound, the
// next at once with a retry hint, and /readyz says 503 within a second
// or two; killed, the same; back, the bank is ready again and the
// payments asked again under their ids are made once each.
func TestFault_ReadinessFollowsTheLedger(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", ephemeralPort(t))
	ledgerArgs := []string{"ledger", "-data", dir, "-listen", addr, "-banks", "1", "-float", "50000000"}
	led := startProc(t, "ledger", ledgerArgs...)
	ledgerURL := led.waitFor(t, ledgerServing)[1]
	bank := startProc(t, "bank-1", bankArgs(dir, ledgerURL, "bank-1", "bank-1")...)
	url := bank.waitFor(t, bankServing)[2]
	httpURL := "http" + strings.TrimSuffix(strings.TrimPrefix(url, "ws"), protocol.Path)
	_, aliceKey, _ := ed25519.GenerateKey(nil)
	_, bobKey, _ := ed25519.GenerateKey(nil)
	alice := dialWallet(t, ctx, url, aliceKey, "Alice", "P-ALICE")
	bob := dialWallet(t, ctx, url, bobKey, "Bob", "P-BOB")
	withdraw(t, ctx, alice, 10_000)
	waitReadyz(t, httpURL, http.StatusOK, 10*time.Second)

	var ids []string
	fault := func(name string, stop func(), resume func()) {
		stop()
		// No wallet asks meanwhile: the bank finds out by itself.
		t.Logf("%s: /readyz 503 after %s", name, waitReadyz(t, httpURL, http.StatusServiceUnavailable, 5*time.Second).Round(time.Millisecond))
		id := "pay-" + name
		ids = append(ids, id, id+"-next")
		start := time.Now()
		_, err := alice.Pay(ctx, id, bob.Address(), 100)
		took := time.Since(start)
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeUnavailable {
			t.Fatalf("%s: a payment was answered %v, want unavailable", name, err)
		}
		if took > 5*time.Second {
			t.Errorf("%s: unavailable after %s, want within about 2s", name, took)
		}
		_, err = alice.Pay(ctx, id+"-next", bob.Address(), 100)
		if !errors.As(err, &pe) || pe.Code != protocol.CodeUnavailable || pe.RetryAfterMS <= 0 {
			t.Errorf("%s: the next payment was answered %v, want unavailable with a retry hint", name, err)
		}
		t.Logf("%s: a payment answered unavailable after %s, the next with a hint of %d ms", name, took.Round(time.Millisecond), pe.RetryAfterMS)
		resume()
		t.Logf("%s: ready again %s after the ledger came back", name, waitReadyz(t, httpURL, http.StatusOK, 15*time.Second).Round(time.Millisecond))
	}
	fault("stopped", func() { led.signal(t, syscall.SIGSTOP) }, func() { led.signal(t, syscall.SIGCONT) })
	fault("killed", func() {
		led.signal(t, syscall.SIGKILL)
		<-led.done
	}, func() {
		led = startProc(t, "ledger again", ledgerArgs...)
		led.waitFor(t, ledgerServing)
	})
	for _, id := range ids {
		payRetrying(t, ctx, alice, id, bob.Address(), 100)
	}
	if got := walletBalance(t, ctx, bob); got != int64(100*len(ids)) {
		t.Errorf("bob holds %d, want %d: each of %d payments once", got, 100*len(ids), len(ids))
	}
	alice.Close()
	bob.Close()
	bank.interrupt(t)
	led.interrupt(t)
	if out, errOut, code := cli(t, nil, "audit", dir); code != 0 || !strings.Contains(out, "verdict: OK") {
		t.Errorf("cbdc audit: exit status %d\n%s%s", code, out, errOut)
	}
}

// A bank started while its ledger is down waits for it, a line a try,
// instead of exiting; Ctrl-C ends the wait cleanly; a bank still waiting
// when the ledger comes up serves.
func TestFault_BankWaitsForItsLedger(t *testing.T) {
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", ephemeralPort(t))
	ledgerArgs := []string{"ledger", "-data", dir, "-listen", addr, "-banks", "1"}
	led := startProc(t, "ledger", ledgerArgs...) // writes the bank's credential
	ledgerURL := led.waitFor(t, ledgerServing)[1]
	led.interrupt(t)

	waiting := regexp.MustCompile(`msg="waiting for the central ledger" attempt=2 `)
	early := startProc(t, "bank-1 interrupted", bankArgs(dir, ledgerURL, "bank-1", "bank-1")...)
	if _, err := early.stderr.waitFor(waiting, early.done, startWait); err != nil {
		t.Fatalf("a bank started before its ledger: %v (%s)\n%s", err, early.exit(), early.stderr.String())
	}
	early.interrupt(t)

	bank := startProc(t, "bank-1", bankArgs(dir, ledgerURL, "bank-1", "bank-1")...)
	if _, err := bank.stderr.waitFor(waiting, bank.done, startWait); err != nil {
		t.Fatalf("a bank started before its ledger: %v (%s)", err, bank.exit())
	}
	led = startProc(t, "ledger", ledgerArgs...)
	led.waitFor(t, ledgerServing)
	bank.waitFor(t, bankServing)
	bank.interrupt(t)
	led.interrupt(t)
}

// A ledger outage under a steady load of payments (150 a second) writes
// a bounded number of lines to a bank's log: of each cause the first,
// then one per 10 s with a count, however many requests fail. Before,
// every failed request wrote one (585 MB in an outage of six minutes).
func TestFault_LogVolumeDuringOutage(t *testing.T) {
	outage, maxLines := 12*time.Second, 40
	if longFaults() {
		outage, maxLines = time.Minute, 100
	}
	ctx, cancel := context.WithTimeout(context.Background(), outage+3*time.Minute)
	defer cancel()
	rig := newOutageRig(t, ctx, cbdcBinary(t))
	dir, ledgerArgs, led, bank := rig.dir, rig.ledgerArgs, rig.led, rig.bank
	unavailable, stopLoad := rig.load(ctx, 10*time.Second)
	time.Sleep(2 * time.Second)
	led.signal(t, syscall.SIGKILL)
	<-led.done
	before, failedBefore := len(logLines(bank.stderr.String())), unavailable.Load()
	time.Sleep(outage)
	during, failed := logLines(bank.stderr.String())[before:], unavailable.Load()-failedBefore
	led = startProc(t, "ledger again", ledgerArgs...)
	led.waitFor(t, ledgerServing)
	time.Sleep(2 * time.Second)
	stopLoad()
	t.Logf("an outage of %s: %d payments answered unavailable, %d lines in the bank's log:\n%s",
		outage, failed, len(during), strings.Join(during, "\n"))
	if failed < int64(10*outage/time.Second) {
		t.Errorf("only %d payments failed in an outage of %s: the load is too light to show anything", failed, outage)
	}
	if len(during) > maxLines {
		t.Errorf("%d lines in the bank's log during an outage of %s, want at most %d", len(during), outage, maxLines)
	}
	bank.interrupt(t)
	led.interrupt(t)
	if out, errOut, code := cli(t, nil, "audit", dir); code != 0 || !strings.Contains(out, "verdict: OK") {
		t.Errorf("cbdc audit: exit status %d\n%s%s", code, out, errOut)
	}
}

func logLines(s string) []string {
	if s = strings.TrimSpace(s); s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// outageRig is a ledger on a port inside the ephemeral range and one bank,
// both processes of bin, with a payee and ten payers holding 50,000 yen
// each: the set-up of the tests that take the ledger away under load.
type outageRig struct {
	dir        string
	port       int
	ledgerArgs []string // to start the ledger again on its port
	led, bank  *proc
	payee      *wallet.Client
	payers     []*wallet.Client
}

// load pays 1 yen from every payer to the payee, 15 times a second each
// (under the wallets' rate limit of 20), each payment given timeout, until
// stop is called and the payers are done; unavailable counts the
// payments answered unavailable.
func (r *outageRig) load(ctx context.Context, timeout time.Duration) (unavailable *atomic.Int64, stop func()) {
	unavailable = new(atomic.Int64)
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, c := range r.payers {
		wg.Go(func() {
			tick := time.NewTicker(time.Second / 15)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-loadCtx.Done():
					return
				case <-tick.C:
				}
				pctx, cancel := context.WithTimeout(loadCtx, timeout)
				_, err := c.Pay(pctx, fmt.Sprintf("p%d-%d", i, n), r.payee.Address(), 1)
				cancel()
				if pe := (*protocol.Error)(nil); errors.As(err, &pe) && pe.Code == protocol.CodeUnavailable {
					unavailable.Add(1)
				}
			}
		})
	}
	return unavailable, func() { stopLoad(); wg.Wait() }
}

func newOutageRig(t *testing.T, ctx context.Context, bin string) *outageRig {
	t.Helper()
	r := &outageRig{dir: t.TempDir(), port: ephemeralPort(t)}
	r.ledgerArgs = []string{"ledger", "-data", r.dir, "-listen", fmt.Sprintf("127.0.0.1:%d", r.port), "-banks", "1", "-float", "50000000"}
	r.led = startBinary(t, bin, "ledger", r.ledgerArgs...)
	ledgerURL := r.led.waitFor(t, ledgerServing)[1]
	r.bank = startBinary(t, bin, "bank-1", bankArgs(r.dir, ledgerURL, "bank-1", "bank-1")...)
	url := r.bank.waitFor(t, bankServing)[2]
	_, payeeKey, _ := ed25519.GenerateKey(nil)
	r.payee = dialWallet(t, ctx, url, payeeKey, "Payee", "P-PAYEE")
	for i := range 10 {
		_, key, _ := ed25519.GenerateKey(nil)
		c := dialWallet(t, ctx, url, key, fmt.Sprintf("Payer %d", i), fmt.Sprintf("P-%d", i))
		withdraw(t, ctx, c, 50_000)
		r.payers = append(r.payers, c)
	}
	return r
}

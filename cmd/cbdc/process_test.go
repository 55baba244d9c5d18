package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// Generous bounds for a slow, shared machine: they only matter when
// something hangs.
const (
	startWait = 60 * time.Second // for a process to print its address
	stopWait  = 30 * time.Second // for a process to exit after SIGINT
	eventWait = 30 * time.Second // for a wallet notification
)

// raceBuild is set by race_test.go, so the binary the tests run is built
// as the test itself is and a data race in a child process fails the test.
var raceBuild bool

var binary struct {
	once sync.Once
	dir  string // removed by TestMain
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// cbdcBinary builds the cbdc command once per test run and returns its path.
func cbdcBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		if binary.dir, binary.err = os.MkdirTemp("", "cbdc-bin-"); binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "cbdc")
		args := []string{"build", "-o", binary.path}
		if raceBuild {
			args = append(args, "-race")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", append(args, ".")...).CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatalf("building the cbdc binary: %v", binary.err)
	}
	return binary.path
}

// childEnv is the environment of the processes the tests start. A race
// build sleeps a second at exit so other threads can report; the children
// have nothing more to report than what they wrote before they exited.
func childEnv() []string {
	env := os.Environ()
	if raceBuild {
		env = append(env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=50"))
	}
	return env
}

// syncBuffer collects a process's output; it is safe for concurrent use
// and tells waiters when more arrives.
type syncBuffer struct {
	mu    sync.Mutex // protects the fields below
	buf   bytes.Buffer
	wrote chan struct{} // closed by the next Write; nil when nobody waits
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wrote != nil {
		close(b.wrote)
		b.wrote = nil
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// next returns a channel closed by the next Write. Take it before looking
// at String, so a write in between is not missed.
func (b *syncBuffer) next() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wrote == nil {
		b.wrote = make(chan struct{})
	}
	return b.wrote
}

// waitFor waits until the output matches re and returns the submatches;
// it gives up when stop is closed or the wait passes.
func (b *syncBuffer) waitFor(re *regexp.Regexp, stop <-chan struct{}, wait time.Duration) ([]string, error) {
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		more := b.next()
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m, nil
		}
		select {
		case <-more:
		case <-stop:
			if m := re.FindStringSubmatch(b.String()); m != nil {
				return m, nil
			}
			return nil, errors.New("stopped")
		case <-timeout.C:
			return nil, fmt.Errorf("nothing matched %q within %s", re, wait)
		}
	}
}

// proc is a cbdc process the test started. Cleanup kills it if it still
// runs and, when the test failed, prints what it wrote.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{} // closed when the process has exited
	err            error         // Wait's answer, set before done closes
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startBinary(t, cbdcBinary(t), name, args...)
}

// startBinary is startProc with another build of cbdc.
func startBinary(t *testing.T, bin, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = childEnv()
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s (%v) stdout:\n%s\n%s stderr:\n%s", name, p.err, p.stdout.String(), name, p.stderr.String())
		}
	})
	return p
}

// waitFor waits for the process to print a line matching re.
func (p *proc) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	m, err := p.stdout.waitFor(re, p.done, startWait)
	if err != nil {
		t.Fatalf("%s: %v (exit: %v)", p.name, err, p.exit())
	}
	return m
}

// exit is how the process ended, or "still running".
func (p *proc) exit() string {
	select {
	case <-p.done:
		if p.err == nil {
			return "exit status 0"
		}
		return p.err.Error()
	default:
		return "still running"
	}
}

// interrupt stops the process as Ctrl-C would and requires a clean exit.
func (p *proc) interrupt(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("interrupt %s: %v (%s)", p.name, err, p.exit())
	}
	select {
	case <-p.done:
	case <-time.After(stopWait):
		t.Fatalf("%s did not stop within %s of SIGINT", p.name, stopWait)
	}
	if p.err != nil {
		t.Errorf("%s after SIGINT: %v, want exit status 0", p.name, p.err)
	}
}

// cli runs the binary to the end and returns its output and exit status.
func cli(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, cbdcBinary(t), args...)
	cmd.Env = append(childEnv(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("cbdc %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// waitNotify waits for a notification of the wallet with the given reason
// and amount, skipping other pushed messages.
func waitNotify(t *testing.T, c *wallet.Client, reason string, amount int64) protocol.Notify {
	t.Helper()
	timeout := time.After(eventWait)
	for {
		select {
		case env := <-c.Events():
			var n protocol.Notify
			if env.Type != protocol.TypeNotify {
				continue
			}
			if err := json.Unmarshal(env.Body, &n); err != nil {
				t.Fatalf("%s: bad notification %s: %v", c.Address(), env.Body, err)
			}
			if n.Reason == reason && n.Amount == amount {
				return n
			}
		case <-c.Done():
			t.Fatalf("%s: connection ended waiting for a %s notification of %d: %v", c.Address(), reason, amount, c.Err())
		case <-timeout:
			t.Fatalf("%s: no %s notification of %d within %s", c.Address(), reason, amount, eventWait)
		}
	}
}

// walletBalance returns the wallet's balance as its bank reports it.
func walletBalance(t *testing.T, ctx context.Context, c *wallet.Client) int64 {
	t.Helper()
	b, err := c.Balance(ctx)
	if err != nil {
		t.Fatalf("balance of %s: %v", c.Address(), err)
	}
	return b.Balance
}

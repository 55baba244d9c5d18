package soak

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/childproc"
)

// What the ledger and a bank print once they serve: the address to reach
// them at.
var (
	ledgerServing = regexp.MustCompile(`cbdc ledger: serving \d+ intermediaries at (https?://\S+)`)
	bankServing   = regexp.MustCompile(`cbdc bank: (bank-\d+) serving wallets at (wss?://\S+) `)
)

// Bounds that only matter when something hangs.
const (
	startWait = 2 * time.Minute  // for a process to say it serves
	stopWait  = 30 * time.Second // for a process to exit after SIGINT
)

// service is one ledger or bank process, started again after each kill on
// the address it first took, so its clients find it where it was.
type service struct {
	name    string
	binary  string
	args    func(listen string) []string
	serving *regexp.Regexp
	logPath string

	listen string // 127.0.0.1:0 until the first start, then the address taken

	mu      sync.Mutex // protects address, cmd, done and err
	address string     // what it printed as its address
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current process has exited
	err     error         // Wait's answer, set before done closes

	starts  int
	retried int // starts tried again because the process did not serve
}

// start runs the process and waits for it to say it serves. A restart
// whose address is briefly still held is tried again.
func (s *service) start(ctx context.Context) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = s.startOnce(ctx); err == nil {
			s.starts++
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		s.retried++
		time.Sleep(time.Second)
	}
	return err
}

// startOpened is a bank's first start beside a replicated ledger: a bank
// whose account the leader, just elected, has not opened yet exits at
// once, so it is started again, for up to startWait, without counting
// those tries as restarts tried again.
func (s *service) startOpened(ctx context.Context) error {
	deadline := time.Now().Add(startWait)
	for {
		err := s.startOnce(ctx)
		if err == nil {
			s.starts++
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *service) startOnce(ctx context.Context) error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("soak: %s's log: %w", s.name, err)
	}
	fmt.Fprintf(logf, "=== soak: start %d of %s at %s\n", s.starts+1, s.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.binary, s.args(s.listen)...)
	childproc.Detach(cmd)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("soak: start %s: %w", s.name, err)
	}
	done := make(chan struct{})
	found := make(chan []string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if m := s.serving.FindStringSubmatch(line + " "); m != nil {
				select {
				case found <- m:
				default:
				}
			}
		}
		io.Copy(logf, stdout)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	go func() {
		<-copied
		err := cmd.Wait()
		logf.Close()
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(done)
	}()
	timeout := time.NewTimer(startWait)
	defer timeout.Stop()
	select {
	case m := <-found:
		s.mu.Lock()
		s.address = m[len(m)-1]
		s.mu.Unlock()
		if s.listen == "127.0.0.1:0" {
			s.listen = hostPort(s.url())
		}
		return nil
	case <-done:
		return fmt.Errorf("soak: %s exited before serving (%v); see %s", s.name, s.exitErr(), s.logPath)
	case <-timeout.C:
	case <-ctx.Done():
	}
	cmd.Process.Kill()
	<-done
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("soak: %s did not say it serves within %s; see %s", s.name, startWait, s.logPath)
}

// url is the address the service printed when it last started.
func (s *service) url() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.address
}

// hostPort takes host:port out of an address such as ws://127.0.0.1:7401/v1/wallet.
func hostPort(url string) string {
	rest := url[strings.Index(url, "://")+3:]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

func (s *service) exitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// kill ends the process with SIGKILL, as a crash or a pulled plug would,
// and waits for it to be gone.
func (s *service) kill() error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	select {
	case <-done:
		return fmt.Errorf("soak: %s had already exited (%v); see %s", s.name, s.exitErr(), s.logPath)
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("soak: kill %s: %w", s.name, err)
	}
	<-done
	return nil
}

// stopSignal stops the process with SIGSTOP; continueSignal lets it go on.
func (s *service) stopSignal() error     { return s.signal(syscall.SIGSTOP) }
func (s *service) continueSignal() error { return s.signal(syscall.SIGCONT) }

func (s *service) signal(sig syscall.Signal) error {
	if err := s.running(); err != nil {
		return err
	}
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("soak: %s %s: %w", sig, s.name, err)
	}
	return nil
}

// running says whether the process is up, and if not, how it ended.
func (s *service) running() error {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return fmt.Errorf("soak: %s never started", s.name)
	}
	select {
	case <-done:
		return fmt.Errorf("soak: %s exited by itself (%v); see %s", s.name, s.exitErr(), s.logPath)
	default:
		return nil
	}
}

// stop asks the process to stop with SIGINT and requires a clean exit.
func (s *service) stop() error {
	if err := s.running(); err != nil {
		return err
	}
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(stopWait):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("soak: %s did not stop within %s of SIGINT; see %s", s.name, stopWait, s.logPath)
	}
	if err := s.exitErr(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("soak: %s stopped with %v; see %s", s.name, err, s.logPath)
		}
		return err
	}
	return nil
}

// logPathIn is where a service's output goes, appended across restarts.
func logPathIn(dir, name string) string { return filepath.Join(dir, "logs", name+".log") }

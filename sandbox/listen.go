package sandbox

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"syscall"
	"time"
)

// BindWait is how long a service started again on its address waits for
// the address to be free: a minute, as long as Linux keeps a connection
// in TIME-WAIT. Such a leftover holds the port when a client's dial on
// it connected to itself while nothing listened there (see
// ledgerhttp.ErrSelfConnect), which can happen only on a port inside the
// kernel's ephemeral range.
const BindWait = time.Minute

// ListenRetry is Listen that, while the address is in use, tries again
// with a growing, jittered wait (250 ms up to 5 s) for up to wait, logging
// each try; ctx ends it early. Any other error ends it at once.
func ListenRetry(ctx context.Context, addr string, cfg *tls.Config, wait time.Duration, log *slog.Logger) (net.Listener, error) {
	deadline := time.Now().Add(wait)
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ln, err := Listen(addr, cfg)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().Add(backoff).After(deadline) {
			return ln, err
		}
		d := backoff/2 + rand.N(backoff/2+1)
		log.Warn("address in use; trying again", "addr", addr, "attempt", attempt, "retry_in", d.Round(time.Millisecond), "gives_up_in", time.Until(deadline).Round(time.Second))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// Listen opens a listener, wrapped in TLS when cfg is set.
func Listen(addr string, cfg *tls.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil || cfg == nil {
		return ln, err
	}
	return tls.NewListener(ln, cfg), nil
}

package sandbox

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A restart finds its address still held for a while: it waits for it,
// saying so, and takes it once it is free.
func TestListenRetry_WaitsForTheAddress(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := held.Addr().String()
	time.AfterFunc(600*time.Millisecond, func() { held.Close() })
	var logs bytes.Buffer
	ln, err := ListenRetry(context.Background(), addr, nil, time.Minute, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("listen on %s once it was free: %v", addr, err)
	}
	ln.Close()
	if !strings.Contains(logs.String(), "address in use; trying again") {
		t.Errorf("no line said the address was in use:\n%s", logs.String())
	}
}

func TestListenRetry_GivesUp(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	quiet := slog.New(slog.DiscardHandler)
	if _, err := ListenRetry(context.Background(), held.Addr().String(), nil, 0, quiet); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("with no time to wait: %v, want EADDRINUSE", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := ListenRetry(ctx, held.Addr().String(), nil, time.Minute, quiet); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ended by its context: %v, want the context's error", err)
	}
	if _, err := ListenRetry(context.Background(), "no-such-host.invalid:1", nil, time.Minute, quiet); err == nil || errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("an address that cannot be listened on: %v, want its error at once", err)
	}
}

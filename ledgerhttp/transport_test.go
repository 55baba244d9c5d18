package ledgerhttp

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// freeLoopbackPort returns a port nothing listens on. Port 0 is given
// from the ephemeral range, where self-connects happen.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// dialFrom dials 127.0.0.1:port from that same port: with nothing
// listening there, TCP's simultaneous open connects the socket to itself,
// as a dial from an ephemeral port that happens to be the ledger's does.
func dialFrom(port int, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (net.Conn, error) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	return dial(context.Background(), "tcp", addr.String())
}

func TestDial_SelfConnectIsAbortedWithoutTimeWait(t *testing.T) {
	port := freeLoopbackPort(t)
	d := &net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}}
	conn, err := dialFrom(port, dialFunc(d))
	if err == nil {
		conn.Close()
		t.Fatalf("a dial that connected to itself (%s -> %s) was not refused", conn.LocalAddr(), conn.RemoteAddr())
	}
	if !errors.Is(err, ErrSelfConnect) {
		t.Skipf("the dial did not connect to itself on this system: %v", err)
	}
	// Aborted, it leaves nothing behind: the ledger can take its port.
	ln, err := net.Listen("tcp", (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}).String())
	if err != nil {
		t.Fatalf("listening on the port after an aborted self-connect: %v", err)
	}
	ln.Close()
}

// The failure the abort prevents: a self-connected socket closed the
// usual way holds the port in TIME-WAIT, and a listener cannot bind it.
func TestDial_SelfConnectClosedPlainlyBlocksTheListener(t *testing.T) {
	port := freeLoopbackPort(t)
	d := &net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}}
	conn, err := dialFrom(port, d.DialContext)
	if err != nil {
		t.Skipf("no self-connect on this system: %v", err)
	}
	if !selfConnected(conn) {
		conn.Close()
		t.Fatalf("%s -> %s: selfConnected = false for a socket connected to itself", conn.LocalAddr(), conn.RemoteAddr())
	}
	conn.Close()
	ln, err := net.Listen("tcp", (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}).String())
	if err == nil {
		ln.Close()
		t.Skip("this kernel lets a listener bind over the TIME-WAIT a self-connect leaves")
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("listen after a plain close: %v, want EADDRINUSE", err)
	}
}

func TestDial_OrdinaryConnectionsPass(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	conn, err := dialFunc(&net.Dialer{Timeout: time.Second})(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if selfConnected(conn) {
		t.Errorf("%s -> %s taken for a self-connect", conn.LocalAddr(), conn.RemoteAddr())
	}
	conn.Close()
}

package netcut_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/netcut"
)

// server accepts connections and hands each to the test.
func server(t *testing.T) (string, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			conns <- c
		}
	}()
	return ln.Addr().String(), conns
}

func link(t *testing.T, target string) *netcut.Link {
	t.Helper()
	l, err := netcut.Listen(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// dial connects through the link and waits for the server's end.
func dial(t *testing.T, l *netcut.Link, conns <-chan net.Conn) (client, srv net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	select {
	case s := <-conns:
		return c, s
	case <-time.After(10 * time.Second):
		t.Fatal("the link never connected to the target")
	}
	return nil, nil
}

func send(t *testing.T, c net.Conn, line string) {
	t.Helper()
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatalf("writing %q: %v", line, err)
	}
}

func receive(t *testing.T, r *bufio.Reader, c net.Conn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := r.ReadString('\n')
	if err != nil || strings.TrimSuffix(got, "\n") != want {
		t.Fatalf("read %q, %v; want %q", got, err, want)
	}
}

// silent checks that nothing arrives on c, not even its end, for a while.
func silent(t *testing.T, c net.Conn, who string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var b [64]byte
	n, err := c.Read(b[:])
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s heard %q, %v through a cut cable", who, b[:n], err)
	}
}

func TestLink_ForwardsBothWaysUntilCut(t *testing.T) {
	target, conns := server(t)
	l := link(t, target)
	c, s := dial(t, l, conns)
	cr, sr := bufio.NewReader(c), bufio.NewReader(s)
	send(t, c, "ping")
	receive(t, sr, s, "ping")
	send(t, s, "pong")
	receive(t, cr, c, "pong")

	l.Cut()
	// Both sides still write without error, as into a network that has
	// gone quiet, and neither hears the other nor any end.
	send(t, c, "lost from the client")
	send(t, s, "lost from the server")
	silent(t, c, "the client")
	silent(t, s, "the server")
	// The server gives up on the client: the client hears nothing of it.
	s.Close()
	silent(t, c, "the client")

	// A new connection while cut is refused at once.
	c2, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("a connection made while cut: read %v, want it closed", err)
	}
	select {
	case s := <-conns:
		t.Fatalf("a connection made while cut reached the target from %s", s.RemoteAddr())
	case <-time.After(300 * time.Millisecond):
	}

	l.Mend()
	c3, s3 := dial(t, l, conns)
	send(t, c3, "after")
	receive(t, bufio.NewReader(s3), s3, "after")
	silent(t, c, "the client cut before mending")
}

func TestLink_AnEndIsPassedOnWhileNotCut(t *testing.T) {
	target, conns := server(t)
	l := link(t, target)
	for _, serverCloses := range []bool{true, false} {
		c, s := dial(t, l, conns)
		closer, other := c, s
		if serverCloses {
			closer, other = s, c
		}
		closer.Close()
		other.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := other.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("server closes %v: the other side read %v, want EOF", serverCloses, err)
		}
	}
}

func TestLink_CloseEndsCutConnections(t *testing.T) {
	target, conns := server(t)
	l, err := netcut.Listen(target)
	if err != nil {
		t.Fatal(err)
	}
	c, s := dial(t, l, conns)
	l.Cut()
	done := make(chan error, 1)
	go func() { done <- l.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung on a cut connection")
	}
	for _, x := range []net.Conn{c, s} {
		x.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := x.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("after Close: read %v, want EOF", err)
		}
	}
	if _, err := net.Dial("tcp", l.Addr()); err == nil {
		t.Fatal("the link still listens after Close")
	}
}

// A side that ends its sending still hears the other's answer, as through
// a plain forwarder: an HTTP client may half-close after its request.
func TestLink_PassesOnAHalfClose(t *testing.T) {
	target, conns := server(t)
	l := link(t, target)
	c, s := dial(t, l, conns)
	send(t, c, "request")
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	sr := bufio.NewReader(s)
	receive(t, sr, s, "request")
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := sr.ReadByte(); err != io.EOF {
		t.Fatalf("the server read %v after the client's half-close, want EOF", err)
	}
	send(t, s, "answer")
	s.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "answer\n" {
		t.Fatalf("the client read %q, %v after half-closing; want the answer, then EOF", got, err)
	}
}

// A sender whose peer stopped reading is not held up once the cable is
// cut: what it sends is read and dropped, as a network drops it.
func TestLink_CutFreesASenderHeldUpByItsPeer(t *testing.T) {
	target, conns := server(t)
	l := link(t, target)
	_, s := dial(t, l, conns) // the client never reads
	chunk := make([]byte, 64<<10)
	sent := make(chan error, 1)
	go func() {
		for range 256 { // 16 MiB: far more than the sockets buffer
			if _, err := s.Write(chunk); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	select {
	case err := <-sent:
		t.Fatalf("16 MiB went to a client that reads nothing (%v): the test needs a peer that holds the sender up", err)
	case <-time.After(500 * time.Millisecond):
	}
	l.Cut()
	select {
	case err := <-sent:
		if err != nil {
			t.Fatalf("the sender failed after the cut: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the sender is still held up after the cut")
	}
}

// Closing the link ends every goroutine it started.
func TestLink_CloseLeavesNoGoroutines(t *testing.T) {
	target, conns := server(t)
	before := runtime.NumGoroutine()
	l, err := netcut.Listen(target)
	if err != nil {
		t.Fatal(err)
	}
	var clients []net.Conn
	for i := range 6 {
		c, s := dial(t, l, conns)
		clients = append(clients, c)
		switch i % 3 {
		case 1:
			s.Close() // ended before the cut
		case 2:
			c.(*net.TCPConn).CloseWrite() // half-closed
		}
	}
	l.Cut()
	refused, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	refused.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := refused.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("a connection made while cut: read %v, want it closed", err)
	}
	refused.Close()
	l.Mend()
	c2, _ := dial(t, l, conns)
	clients = append(clients, c2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before the link, %d after it closed:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

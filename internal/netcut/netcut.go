// Package netcut is a TCP forwarder on loopback whose cable a test can
// pull, as a phone switched to airplane mode pulls its own: the peer
// hears nothing more, no close and no reset, and learns of it only by its
// own keep-alive. A browser's network emulation cannot stand in for it:
// Chromium's offline mode leaves open websockets answering pings.
package netcut

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Link forwards each connection made to its address to the target.
type Link struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cut    bool
	closed bool
	pairs  map[*pair]struct{}
	wg     sync.WaitGroup
}

// pair is one forwarded connection: the client's and the target's ends.
type pair struct {
	client, server *net.TCPConn

	mu    sync.Mutex
	cut   bool // nothing more passes either way
	ended int  // directions that have ended
}

// dialWait bounds the connection to the target, so that Close never
// waits long for one.
const dialWait = 5 * time.Second

// Listen forwards connections made to a new loopback address to target.
func Listen(target string) (*Link, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &Link{ln: ln, target: target, pairs: map[*pair]struct{}{}}
	l.wg.Add(1)
	go l.accept()
	return l, nil
}

// Addr is the address to connect to instead of the target.
func (l *Link) Addr() string { return l.ln.Addr().String() }

// Cut silences every open connection both ways: bytes sent on either
// side are read and dropped, so neither learns the other is gone, and a
// sender is never held up by a peer that stopped reading. A chunk
// already on its way when the cable is pulled may still arrive. New
// connections are refused until Mend, as a phone without a network fails
// to connect at once.
func (l *Link) Cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = true
	for p := range l.pairs {
		p.silence()
	}
}

// Mend forwards new connections again. The connections that were cut
// stay silent until the link closes: a browser that keeps one in its
// pool of idle connections finds it dead, as after a real outage.
func (l *Link) Mend() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = false
}

// Close stops listening and closes every connection, cut or not.
func (l *Link) Close() error {
	l.mu.Lock()
	l.closed = true
	for p := range l.pairs {
		p.client.Close()
		p.server.Close()
	}
	l.mu.Unlock()
	err := l.ln.Close()
	l.wg.Wait()
	return err
}

func (l *Link) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			time.Sleep(10 * time.Millisecond) // out of files, say: try again
			continue
		}
		l.mu.Lock()
		if l.cut || l.closed {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.wg.Add(1)
		l.mu.Unlock()
		go l.connect(c.(*net.TCPConn))
	}
}

// connect dials the target for the client c and forwards between them,
// unless the cable was pulled or the link closed meanwhile.
func (l *Link) connect(c *net.TCPConn) {
	defer l.wg.Done()
	s, err := net.DialTimeout("tcp", l.target, dialWait)
	if err != nil {
		c.Close()
		return
	}
	p := &pair{client: c, server: s.(*net.TCPConn)}
	l.mu.Lock()
	if l.cut || l.closed {
		l.mu.Unlock()
		c.Close()
		s.Close()
		return
	}
	l.pairs[p] = struct{}{}
	l.wg.Add(2)
	l.mu.Unlock()
	go l.pipe(p, p.server, p.client)
	go l.pipe(p, p.client, p.server)
}

// pipe copies from src to dst until src ends, dropping what it reads once
// the pair is cut. While the pair is not cut, an end is passed on as a
// plain forwarder would: src's end of sending as dst's, a failure by
// closing both. Once cut, the other side hears nothing of it until the
// link closes.
func (l *Link) pipe(p *pair, dst, src *net.TCPConn) {
	defer l.wg.Done()
	buf := make([]byte, 32<<10)
	var err error
	for {
		var n int
		n, err = src.Read(buf)
		if n > 0 && !p.isCut() {
			if _, werr := dst.Write(buf[:n]); werr != nil && !p.isCut() {
				err = werr
			}
		}
		if err != nil {
			break
		}
	}
	if p.isCut() {
		return // the link closes both ends
	}
	if err == io.EOF {
		dst.CloseWrite()
		src.CloseRead()
		if !p.endOne() {
			return // the other direction goes on
		}
	}
	dst.Close()
	src.Close()
	l.mu.Lock()
	delete(l.pairs, p)
	l.mu.Unlock()
}

// silence cuts the pair and frees a write held up by a peer that no
// longer reads, so its pipe goes back to reading and dropping.
func (p *pair) silence() {
	p.mu.Lock()
	p.cut = true
	p.mu.Unlock()
	p.client.SetWriteDeadline(time.Now())
	p.server.SetWriteDeadline(time.Now())
}

func (p *pair) isCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// endOne counts a direction ended and says whether both now have.
func (p *pair) endOne() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ended++
	return p.ended == 2
}

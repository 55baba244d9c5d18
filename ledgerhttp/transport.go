package ledgerhttp

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// The connection pool of NewTransport.
const (
	DefaultMaxConnsPerHost     = 64 // connections to the ledger at most; calls past them wait for one
	DefaultMaxIdleConnsPerHost = 32 // kept open between calls
	dialTimeout                = time.Second
	idleConnTimeout            = 90 * time.Second
)

// NewTransport returns the HTTP transport a bank reaches its ledger
// through: keep-alive connections, at most DefaultMaxConnsPerHost to one
// host of which DefaultMaxIdleConnsPerHost stay open when idle, dials
// that give up after a second, TLS with cfg when it is set, and a dialer
// that refuses a connection to itself (ErrSelfConnect).
func NewTransport(cfg *tls.Config) *http.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 15 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialFunc(d),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          DefaultMaxIdleConnsPerHost,
		MaxIdleConnsPerHost:   DefaultMaxIdleConnsPerHost,
		MaxConnsPerHost:       DefaultMaxConnsPerHost,
		IdleConnTimeout:       idleConnTimeout,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       cfg,
	}
}

// dialFunc dials with d and aborts a connection to itself.
func dialFunc(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if selfConnected(conn) {
			abort(conn)
			return nil, &net.OpError{Op: "dial", Net: network, Source: conn.LocalAddr(), Addr: conn.RemoteAddr(), Err: ErrSelfConnect}
		}
		return conn, nil
	}
}

// selfConnected reports whether a connection's two ends are one socket.
func selfConnected(c net.Conn) bool {
	l, ok1 := c.LocalAddr().(*net.TCPAddr)
	r, ok2 := c.RemoteAddr().(*net.TCPAddr)
	return ok1 && ok2 && l.Port == r.Port && l.IP.Equal(r.IP)
}

// abort closes a connection with a reset instead of the usual goodbye. A
// self-connected socket closed the usual way lingers in TIME-WAIT on the
// ledger's port for a minute, and the ledger cannot bind it meanwhile.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

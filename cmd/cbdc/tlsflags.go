package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/gorilla/websocket"
)

// tlsFlags are a server's -tls-cert and -tls-key and a client's -ca.
type tlsFlags struct {
	cert, key, ca string
}

func (t *tlsFlags) registerServer(fs *flag.FlagSet) {
	fs.StringVar(&t.cert, "tls-cert", t.cert, "serve TLS with this certificate (PEM, such as one from cbdc certs); plain HTTP when empty")
	fs.StringVar(&t.key, "tls-key", t.key, "the private key of -tls-cert")
}

func (t *tlsFlags) registerClient(fs *flag.FlagSet, whom string) {
	fs.StringVar(&t.ca, "ca", t.ca, "trust this certificate authority (PEM, such as ca.pem from cbdc certs) for "+whom+", besides the system's")
}

// serverConfig is the TLS configuration to serve with; nil without TLS.
func (t *tlsFlags) serverConfig() (*tls.Config, error) {
	if t.cert == "" && t.key == "" {
		return nil, nil
	}
	if t.cert == "" || t.key == "" {
		return nil, errors.New("-tls-cert and -tls-key go together")
	}
	pair, err := tls.LoadX509KeyPair(t.cert, t.key)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// clientConfig trusts -ca besides the system's roots; nil without -ca.
func (t *tlsFlags) clientConfig() (*tls.Config, error) {
	if t.ca == "" {
		return nil, nil
	}
	caPEM, err := os.ReadFile(t.ca)
	if err != nil {
		return nil, fmt.Errorf("-ca: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("-ca: %s holds no PEM certificate", t.ca)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// httpClient is an HTTP client trusting -ca.
func (t *tlsFlags) httpClient(timeout time.Duration) (*http.Client, error) {
	cfg, err := t.clientConfig()
	if err != nil {
		return nil, err
	}
	c := &http.Client{Timeout: timeout}
	if cfg != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg
		c.Transport = tr
	}
	return c, nil
}

// wsDialer is a websocket dialer trusting -ca; nil (the default) without it.
func (t *tlsFlags) wsDialer() (*websocket.Dialer, error) {
	cfg, err := t.clientConfig()
	if cfg == nil || err != nil {
		return nil, err
	}
	d := *websocket.DefaultDialer
	d.TLSClientConfig = cfg
	return &d, nil
}

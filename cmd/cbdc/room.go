package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
)

// room is what `cbdc sandbox -room` serves with: the machine's address
// on the room's network, and the certificates phones trust for it (made
// once, by cbdc certs' code, in DATA/room-certs).
type room struct {
	host  string
	dir   string
	tls   *tls.Config
	caPEM []byte
}

// roomCertDays is how long the room's certificates last: phones refuse
// longer-lived ones.
const roomCertDays = 90

// openRoom finds the room's host (host, or this machine's first LAN
// address) and loads its certificates, making them the first time.
func openRoom(dataDir, host string, stdout, stderr io.Writer) (*room, error) {
	if host == "" {
		var err error
		if host, err = lanAddress(); err != nil {
			return nil, err
		}
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("sandbox: -room-host must be an IP address (phones reach the room by address), got %q", host)
	}
	r := &room{host: host, dir: filepath.Join(dataDir, "room-certs")}
	if _, err := os.Stat(filepath.Join(r.dir, serverCertFile)); errors.Is(err, os.ErrNotExist) {
		certs := &CertsCommand{stdout: stdout, stderr: stderr, dir: r.dir, hosts: host + ",127.0.0.1,localhost",
			names: []string{host, "127.0.0.1", "localhost"}, days: roomCertDays}
		if err := certs.Run(context.Background()); err != nil {
			return nil, fmt.Errorf("sandbox: the room's certificates: %w", err)
		}
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(r.dir, serverCertFile), filepath.Join(r.dir, serverKeyFile))
	if err != nil {
		return nil, fmt.Errorf("sandbox: the room's certificates in %s: %w", r.dir, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("sandbox: the room's certificate: %w", err)
	}
	if err := leaf.VerifyHostname(host); err != nil {
		return nil, fmt.Errorf("sandbox: the room's certificates in %s are for %v, not %s: delete that directory to make new ones (phones must then trust the new authority)",
			r.dir, append(leaf.DNSNames, ipStrings(leaf.IPAddresses)...), host)
	}
	if r.caPEM, err = os.ReadFile(filepath.Join(r.dir, caCertFile)); err != nil {
		return nil, fmt.Errorf("sandbox: the room's authority: %w", err)
	}
	r.tls = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	return r, nil
}

func ipStrings(ips []net.IP) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

// at is addr's port on the room's host.
func (r *room) at(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		port = addr
	}
	return net.JoinHostPort(r.host, port)
}

// lanAddress is this machine's first IPv4 address on a network interface
// that is up and not loopback: where phones in the room reach it.
func lanAddress() (string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("sandbox: list network interfaces: %w", err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLinkLocalUnicast() {
				return ipn.IP.String(), nil
			}
		}
	}
	return "", errors.New("sandbox: -room found no network address on this machine: join a network, or give -room-host ADDRESS")
}

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/atomicfile"
)

// Files `cbdc certs` writes in its directory.
const (
	caCertFile     = "ca.pem"
	caKeyFile      = "ca-key.pem"
	serverCertFile = "server.pem"
	serverKeyFile  = "server-key.pem"
)

// runCerts is `cbdc certs`.
func runCerts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runCommand(ctx, &CertsCommand{stdout: stdout, stderr: stderr}, args)
}

// CertsCommand is `cbdc certs`: a certificate authority for a local test
// network and one server certificate it signs, for the ledger and banks to
// serve TLS with and their clients to trust with -ca.
type CertsCommand struct {
	stdout, stderr io.Writer
	dir            string
	hosts          string
	names          []string // -hosts, split
	days           int
}

func (c *CertsCommand) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.dir, "dir", "data/certs", "directory to write ca.pem, ca-key.pem, server.pem and server-key.pem to")
	fs.StringVar(&c.hosts, "hosts", "127.0.0.1,::1,localhost", "comma-separated names and addresses the server certificate is for")
	fs.IntVar(&c.days, "days", 90, "days the certificates are valid")
	return fs
}

// ParseFlags takes the flags; certs takes no arguments.
func (c *CertsCommand) ParseFlags(args []string) error {
	fs := c.flagSet()
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 0 || c.days < 1 || c.days > 825 {
		return errors.New("certs: -days must be 1 to 825 and there are no arguments")
	}
	c.names = splitList(c.hosts)
	if len(c.names) == 0 {
		return errors.New("certs: -hosts names no host")
	}
	return nil
}

// Run makes the authority and the server certificate and writes them to
// -dir, refusing to replace certificates already there.
func (c *CertsCommand) Run(context.Context) error {
	for _, f := range []string{caCertFile, caKeyFile, serverCertFile, serverKeyFile} {
		if _, err := os.Stat(filepath.Join(c.dir, f)); err == nil {
			return fmt.Errorf("certs: %s already exists; remove the old certificates or choose another -dir", filepath.Join(c.dir, f))
		}
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	now := time.Now()
	caKey, caDER, err := c.newAuthority(now)
	if err != nil {
		return err
	}
	srvKey, srvDER, err := c.newServerCert(now, caKey, caDER)
	if err != nil {
		return err
	}
	if err := c.write(caKey, caDER, srvKey, srvDER); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "cbdc certs: a local CA (%s) and a server certificate for %s (%s, key %s), valid %d days, in %s\n",
		caCertFile, c.hosts, serverCertFile, serverKeyFile, c.days, c.dir)
	fmt.Fprintln(c.stdout, "  serve with -tls-cert server.pem -tls-key server-key.pem; trust with -ca ca.pem")
	fmt.Fprintln(c.stdout, "  ca-key.pem signs certificates: keep it here, servers and clients do not need it")
	return nil
}

// newAuthority makes the authority's key and self-signed certificate.
func (c *CertsCommand) newAuthority(now time.Time) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	// The authority may vouch only for the hosts given: clients that trust
	// it trust nothing else it could sign, should its key leak.
	ca := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "cbdc sandbox local CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 0, c.days), IsCA: true, BasicConstraintsValid: true,
		MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, PermittedDNSDomainsCritical: true}
	for _, h := range c.names {
		if ip := net.ParseIP(h); ip != nil {
			bits := 8 * len(ip)
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			ca.PermittedIPRanges = append(ca.PermittedIPRanges, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
		} else {
			ca.PermittedDNSDomains = append(ca.PermittedDNSDomains, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, ca, ca, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w", err)
	}
	return key, der, nil
}

// newServerCert makes the server's key and a certificate for -hosts that
// the authority signs.
func (c *CertsCommand) newServerCert(now time.Time, caKey *ecdsa.PrivateKey, caDER []byte) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	srv := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: c.names[0]},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 0, c.days),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, h := range c.names {
		if ip := net.ParseIP(h); ip != nil {
			srv.IPAddresses = append(srv.IPAddresses, ip)
		} else {
			srv.DNSNames = append(srv.DNSNames, h)
		}
	}
	caCert, _ := x509.ParseCertificate(caDER)
	der, err := x509.CreateCertificate(rand.Reader, srv, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w", err)
	}
	return key, der, nil
}

// write writes the certificates and keys as PEM, the keys readable only
// by their owner.
func (c *CertsCommand) write(caKey *ecdsa.PrivateKey, caDER []byte, srvKey *ecdsa.PrivateKey, srvDER []byte) error {
	for _, f := range []struct {
		name, kind string
		der        []byte
		mode       os.FileMode
	}{
		{caCertFile, "CERTIFICATE", caDER, 0o644},
		{serverCertFile, "CERTIFICATE", srvDER, 0o644},
		{caKeyFile, "EC PRIVATE KEY", mustMarshalEC(caKey), 0o600},
		{serverKeyFile, "EC PRIVATE KEY", mustMarshalEC(srvKey), 0o600},
	} {
		data := pem.EncodeToMemory(&pem.Block{Type: f.kind, Bytes: f.der})
		if err := atomicfile.Write(filepath.Join(c.dir, f.name), data, f.mode); err != nil {
			return fmt.Errorf("certs: %w", err)
		}
	}
	return nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func mustMarshalEC(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err) // only fails for curves Go does not know
	}
	return der
}

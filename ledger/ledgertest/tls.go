package ledgertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// WithTLS serves the Ledger API over TLS with cfg (and the admin API too,
// unless it has its own listener and WithAdminTLS). For mutual TLS set
// cfg.ClientAuth to tls.RequireAndVerifyClientCert and cfg.ClientCAs; see
// Certs for a throwaway PKI. Default: plaintext.
func WithTLS(cfg *tls.Config) Option {
	return optionFunc(func(c *config) { c.tls = cfg })
}

// WithAdminTLS serves the admin API's own listener (WithSeparateAdmin) over
// TLS with cfg; New refuses it with WithSharedAdmin. Default: the WithTLS
// configuration.
func WithAdminTLS(cfg *tls.Config) Option {
	return optionFunc(func(c *config) { c.adminTLS = cfg })
}

// serverCreds returns the grpc.Server option for cfg, or none for plaintext.
func serverCreds(cfg *tls.Config) []grpc.ServerOption {
	if cfg == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(cfg))}
}

// Certs is a throwaway PKI for TLS tests: a CA, a server certificate for
// 127.0.0.1, ::1 and localhost, and a client certificate, all ECDSA P-256
// keys, valid from an hour ago for a day. The PEM fields hold the same
// material for code that reads files (WriteFiles).
type Certs struct {
	CA     *x509.Certificate
	CAPool *x509.CertPool
	Server tls.Certificate
	Client tls.Certificate

	CAPEM, ServerCertPEM, ServerKeyPEM, ClientCertPEM, ClientKeyPEM []byte

	caKey *ecdsa.PrivateKey
}

// NewCerts generates a CA and a server and a client certificate signed by
// it. clientName becomes the client certificate's common name.
func NewCerts(clientName string) (*Certs, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ledgertest: CA key: %w", err)
	}
	now := time.Now()
	caTpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "ledgertest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("ledgertest: CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	c := &Certs{CA: ca, CAPool: x509.NewCertPool(), caKey: caKey,
		CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	c.CAPool.AddCert(ca)

	c.Server, c.ServerCertPEM, c.ServerKeyPEM, err = c.Issue("localhost", x509.ExtKeyUsageServerAuth,
		[]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback})
	if err != nil {
		return nil, err
	}
	c.Client, c.ClientCertPEM, c.ClientKeyPEM, err = c.Issue(clientName, x509.ExtKeyUsageClientAuth, nil, nil)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Issue signs a new certificate with the CA: usage says whether it is a
// server or a client certificate; dnsNames and ips become its subject
// alternative names.
func (c *Certs) Issue(commonName string, usage x509.ExtKeyUsage, dnsNames []string, ips []net.IP) (cert tls.Certificate, certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("ledgertest: key: %w", err)
	}
	now := time.Now()
	tpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, c.CA, &key.PublicKey, c.caKey)
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("ledgertest: certificate %s: %w", commonName, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	return cert, certPEM, keyPEM, err
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}

// ServerConfig is a TLS configuration for WithTLS: the server certificate,
// and with requireClientCert, mutual TLS that accepts only client
// certificates signed by the CA.
func (c *Certs) ServerConfig(requireClientCert bool) *tls.Config {
	cfg := &tls.Config{Certificates: []tls.Certificate{c.Server}, MinVersion: tls.VersionTLS12}
	if requireClientCert {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = c.CAPool
	}
	return cfg
}

// ClientConfig is a TLS configuration for ledger.Endpoint.TLS that trusts
// the CA, and with withClientCert presents the client certificate.
func (c *Certs) ClientConfig(withClientCert bool) *tls.Config {
	cfg := &tls.Config{RootCAs: c.CAPool, MinVersion: tls.VersionTLS12}
	if withClientCert {
		cfg.Certificates = []tls.Certificate{c.Client}
	}
	return cfg
}

// CertFiles names the PEM files WriteFiles wrote.
type CertFiles struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

// WriteFiles writes the PEM files into dir (keys with mode 0600), for code
// configured by file names, such as a daemon's flags.
func (c *Certs) WriteFiles(dir string) (CertFiles, error) {
	f := CertFiles{
		CA:         filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey:  filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"),
		ClientKey:  filepath.Join(dir, "client-key.pem"),
	}
	for _, w := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{f.CA, c.CAPEM, 0o644}, {f.ServerCert, c.ServerCertPEM, 0o644}, {f.ServerKey, c.ServerKeyPEM, 0o600},
		{f.ClientCert, c.ClientCertPEM, 0o644}, {f.ClientKey, c.ClientKeyPEM, 0o600},
	} {
		if err := os.WriteFile(w.name, w.data, w.mode); err != nil {
			return CertFiles{}, fmt.Errorf("ledgertest: %w", err)
		}
	}
	return f, nil
}

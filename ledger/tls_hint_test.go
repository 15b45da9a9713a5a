package ledger_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// closingTLSServer accepts TLS 1.3 connections with clientAuth, naming
// clientCAs (none if nil) as the authorities it accepts, completes the
// handshake, writes first (nothing if empty) and closes: what a client sees
// of a participant that requires a client certificate when its write beats
// the participant's alert.
func closingTLSServer(t *testing.T, certs *ledgertest.Certs, clientAuth tls.ClientAuthType, clientCAs *x509.CertPool, first []byte) string {
	t.Helper()
	cfg := certs.ServerConfig(false)
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
	cfg.ClientAuth = clientAuth
	cfg.ClientCAs = clientCAs
	cfg.NextProtos = []string{"h2"}
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			if c.(*tls.Conn).Handshake() == nil && len(first) > 0 {
				// Spoken: the client fails on what it reads, and
				// closes.
				c.Write(first)
				go func() { io.Copy(io.Discard, c); c.Close() }()
				continue
			}
			c.Close()
		}
	}()
	return lis.Addr().String()
}

// askedHint is the note of a connection asked for a certificate it did
// not present.
const askedHint = "asked for a client certificate during the TLS handshake and this endpoint presents none"

// failedLedgerEnd asks the participant at addr for its ledger end over TLS
// with cfg, and returns the error it must fail with.
func failedLedgerEnd(t *testing.T, addr string, cfg *tls.Config) error {
	t.Helper()
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: addr, TLS: cfg}})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.LedgerEnd(ctxT(t))
	require.Error(t, err)
	t.Log(err)
	return err
}

// Under TLS 1.3 a participant that wants a client certificate the client
// does not have may be heard of only as a closed connection. The error then
// says the participant asked for a certificate and none was presented; it
// does not when the participant asked for none, when the client presented
// one, or once the participant has sent something.
func TestClosedAfterCertificateRequestNamesTheMissingCertificate(t *testing.T) {
	certs, err := ledgertest.NewCerts("hint")
	require.NoError(t, err)

	err = failedLedgerEnd(t, closingTLSServer(t, certs, tls.RequestClientCert, nil, nil), certs.ClientConfig(false))
	require.ErrorContains(t, err, askedHint)
	require.True(t, ledger.IsRetryable(err), "still retried: the participant may not require the certificate")
	require.NotErrorIs(t, err, ledger.ErrTLS)

	err = failedLedgerEnd(t, closingTLSServer(t, certs, tls.NoClientCert, nil, nil), certs.ClientConfig(false))
	require.NotContains(t, err.Error(), askedHint, "not asked")

	err = failedLedgerEnd(t, closingTLSServer(t, certs, tls.RequestClientCert, nil, nil), certs.ClientConfig(true))
	require.NotContains(t, err.Error(), askedHint, "a certificate was presented")

	err = failedLedgerEnd(t, closingTLSServer(t, certs, tls.RequestClientCert, nil, []byte("not http/2 at all, but heard")), certs.ClientConfig(false))
	require.NotContains(t, err.Error(), askedHint, "the participant had spoken")
}

// The endpoint may have a certificate and still present none: crypto/tls
// presents only one issued by an authority the participant names, and a
// GetClientCertificate may return an empty one. The closed connection then
// says so too.
func TestClosedAfterCertificateRequestNamesACertificateNotPresented(t *testing.T) {
	certs, err := ledgertest.NewCerts("hint")
	require.NoError(t, err)

	// The participant names an authority other than the client
	// certificate's issuer.
	otherCA := x509.NewCertPool()
	otherCA.AddCert(certs.Server.Leaf)
	err = failedLedgerEnd(t, closingTLSServer(t, certs, tls.RequestClientCert, otherCA, nil), certs.ClientConfig(true))
	require.ErrorContains(t, err, askedHint)
	require.True(t, ledger.IsRetryable(err))

	empty := certs.ClientConfig(false)
	empty.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tls.Certificate{}, nil }
	err = failedLedgerEnd(t, closingTLSServer(t, certs, tls.RequestClientCert, nil, nil), empty)
	require.ErrorContains(t, err, askedHint)

	// The participant names the client certificate's issuer: presented.
	err = failedLedgerEnd(t, closingTLSServer(t, certs, tls.RequestClientCert, certs.CAPool, nil), certs.ClientConfig(true))
	require.NotContains(t, err.Error(), askedHint, "a certificate was presented")
}

// A connection that notes the certificate request is still what gRPC's TLS
// credentials return: h2 negotiated, TLSInfo with privacy and integrity
// (bearer tokens require it), and its socket reachable (syscall.Conn) for
// channelz's socket options.
func TestAskedCertificateConnectionKeepsWhatGRPCUses(t *testing.T) {
	certs, err := ledgertest.NewCerts("hint")
	require.NoError(t, err)
	addr := closingTLSServer(t, certs, tls.RequestClientCert, nil, []byte("kept open"))
	raw, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	conn, info, err := ledger.TLSCredentials(certs.ClientConfig(false)).ClientHandshake(ctxT(t), addr, raw)
	require.NoError(t, err)
	defer conn.Close()

	ti, ok := info.(credentials.TLSInfo)
	require.True(t, ok, "%T", info)
	require.Equal(t, credentials.PrivacyAndIntegrity, ti.SecurityLevel)
	require.Equal(t, "h2", ti.State.NegotiatedProtocol)
	require.Equal(t, uint16(tls.VersionTLS13), ti.State.Version)

	sc, ok := conn.(syscall.Conn)
	require.True(t, ok, "%T does not give its socket", conn)
	_, err = sc.SyscallConn()
	require.NoError(t, err)
}

// A participant that asked for a certificate and then stays silent was not
// refused by it: the client gives up and closes the connection itself, and
// its error (a closed connection, a timeout) does not blame the missing
// certificate. A participant refusing the certificate closes the connection
// from its side.
func TestClientsOwnCloseDoesNotNameTheMissingCertificate(t *testing.T) {
	certs, err := ledgertest.NewCerts("hint")
	require.NoError(t, err)
	cfg := certs.ServerConfig(false)
	cfg.ClientAuth = tls.RequestClientCert
	cfg.NextProtos = []string{"h2"}
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go c.(*tls.Conn).Handshake() // and nothing more
		}
	}()

	c, err := ledger.Dial(ledger.Config{
		LedgerAPI:   ledger.Endpoint{Target: lis.Addr().String(), TLS: certs.ClientConfig(false)},
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: 300 * time.Millisecond})},
	})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.LedgerEnd(ctxT(t))
	require.Error(t, err)
	t.Log(err)
	require.NotContains(t, err.Error(), "asked for a client certificate", "the client closed the connection, not the participant")
}

package ledger

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync/atomic"

	"google.golang.org/grpc/credentials"
)

// noClientCertHint is added to a connection's read or write error when the
// participant asked for a client certificate during a TLS 1.3 handshake,
// the endpoint had none to present, and the connection then failed before
// the participant sent anything. Under TLS 1.3 the participant judges the
// client's certificate after the client has finished its side of the
// handshake: a participant that requires one sends its alert ("certificate
// required", ErrTLS) and closes, and a client that writes before it reads
// the alert sees only a broken pipe or a reset, which says nothing of the
// cause.
const noClientCertHint = "the participant asked for a client certificate during the TLS handshake and this endpoint presents none; if the participant requires one (mutual TLS), set the Endpoint's TLS Certificates or GetClientCertificate"

// tlsCredentials returns gRPC's TLS transport credentials for cfg. If cfg
// has no client certificate, a connection whose TLS 1.3 handshake was asked
// for one notes that in its errors until the participant's first bytes
// arrive (noClientCertHint). The error stays what it was otherwise: a
// participant may ask for a certificate without requiring one, so a broken
// connection is still retried as any unavailability.
func tlsCredentials(cfg *tls.Config) credentials.TransportCredentials {
	creds := credentials.NewTLS(cfg)
	if len(cfg.Certificates) > 0 || cfg.GetClientCertificate != nil {
		return creds
	}
	return &askedCertCreds{TransportCredentials: creds, cfg: cfg}
}

type askedCertCreds struct {
	credentials.TransportCredentials
	cfg *tls.Config
}

func (c *askedCertCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	// The configuration is cloned per handshake so that each connection
	// learns of its own certificate request.
	var asked atomic.Bool
	cfg := c.cfg.Clone()
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		asked.Store(true)
		return &tls.Certificate{}, nil // none, as crypto/tls sends without the hook
	}
	conn, info, err := credentials.NewTLS(cfg).ClientHandshake(ctx, authority, raw)
	if err != nil || !asked.Load() {
		return conn, info, err
	}
	if ti, ok := info.(credentials.TLSInfo); !ok || ti.State.Version != tls.VersionTLS13 {
		return conn, info, err // before 1.3 a refusal fails the handshake itself
	}
	return &askedCertConn{Conn: conn}, info, nil
}

func (c *askedCertCreds) Clone() credentials.TransportCredentials {
	return &askedCertCreds{TransportCredentials: c.TransportCredentials.Clone(), cfg: c.cfg}
}

// askedCertConn notes noClientCertHint in its errors until it has read
// something from the participant.
type askedCertConn struct {
	net.Conn
	heard atomic.Bool
}

func (c *askedCertConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.heard.Store(true)
	}
	return n, c.hint(err)
}

func (c *askedCertConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	return n, c.hint(err)
}

func (c *askedCertConn) hint(err error) error {
	if err == nil || c.heard.Load() {
		return err
	}
	var a askedCertError
	if errors.As(err, &a) {
		return err
	}
	return askedCertError{err}
}

// askedCertError is a connection error with noClientCertHint; it unwraps
// to the error it notes.
type askedCertError struct{ err error }

func (e askedCertError) Error() string { return e.err.Error() + " (" + noClientCertHint + ")" }
func (e askedCertError) Unwrap() error { return e.err }

package ledger

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"syscall"

	"google.golang.org/grpc/credentials"
)

// noClientCertHint is added to a connection's read or write error when the
// participant asked for a client certificate during a TLS 1.3 handshake,
// the endpoint presented none, and the connection then failed before the
// participant sent anything. Under TLS 1.3 the participant judges the
// client's certificate after the client has finished its side of the
// handshake: a participant that requires one sends its alert ("certificate
// required", ErrTLS) and closes, and a client that writes before it reads
// the alert sees only a broken pipe or a reset, which says nothing of the
// cause.
const noClientCertHint = "the participant asked for a client certificate during the TLS handshake and this endpoint presents none; if the participant requires one (mutual TLS), set the Endpoint's TLS Certificates or GetClientCertificate (crypto/tls presents a certificate only if it is issued by an authority the participant names)"

// tlsCredentials returns gRPC's TLS transport credentials for cfg. A
// connection whose TLS 1.3 handshake was asked for a client certificate and
// presented none (cfg has none, none issued by an authority the participant
// names, or GetClientCertificate returned an empty one) notes that in its
// errors until the participant's first bytes arrive (noClientCertHint). The
// error stays what it was otherwise: a participant may ask for a
// certificate without requiring one, so a broken connection is still
// retried as any unavailability.
//
// cfg is copied here, as credentials.NewTLS copies it: changing it after
// Dial changes nothing.
func tlsCredentials(cfg *tls.Config) credentials.TransportCredentials {
	cfg = cfg.Clone()
	return &askedCertCreds{TransportCredentials: credentials.NewTLS(cfg), cfg: cfg}
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
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		cert, err := clientCertificate(c.cfg, cri)
		if err == nil && cert != nil && len(cert.Certificate) == 0 {
			asked.Store(true)
		}
		return cert, err
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

// clientCertificate is the certificate crypto/tls presents for cfg when the
// participant asks with cri: GetClientCertificate's if set, else the first
// of Certificates the participant accepts, else none (an empty one).
func clientCertificate(cfg *tls.Config, cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
	if cfg.GetClientCertificate != nil {
		return cfg.GetClientCertificate(cri)
	}
	for _, chain := range cfg.Certificates {
		if cri.SupportsCertificate(&chain) == nil {
			return &chain, nil
		}
	}
	return &tls.Certificate{}, nil
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

// SyscallConn gives the connection's socket, as the connection gRPC's TLS
// credentials return does (channelz reads its socket options).
func (c *askedCertConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

func (c *askedCertConn) hint(err error) error {
	if err == nil || c.heard.Load() {
		return err
	}
	// A refusal is the participant's: it closes the connection (EOF, a
	// broken pipe, a reset). The client's own close or deadline (a silent
	// participant, the connect timeout) is not one.
	if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
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

package ledger

import (
	"crypto/tls"
	"time"
	"unsafe"

	"google.golang.org/grpc/credentials"
)

// TLSCredentials returns the transport credentials Dial uses for an
// endpoint's TLS configuration.
func TLSCredentials(cfg *tls.Config) credentials.TransportCredentials { return tlsCredentials(cfg) }

// WireDecoder is the stream's decoder (wire.go), for tests.
type WireDecoder struct{ d *wireDecoder }

// NewWireDecoder returns a decoder with nothing shared yet.
func NewWireDecoder() WireDecoder { return WireDecoder{newWireDecoder()} }

// Decode decodes one GetUpdatesResponse as a stream does, reporting
// whether the fast path had to fall back to the reference path.
func (w WireDecoder) Decode(b []byte) (u Update, unmarshalErr, err error, fellBack bool) {
	if u, err := w.d.update(b); err == nil {
		return u, nil, nil, false
	}
	u, unmarshalErr, err = w.d.decode(b)
	return u, unmarshalErr, err, true
}

// DecodeWire decodes b with a new WireDecoder.
func DecodeWire(b []byte) (u Update, unmarshalErr, err error, fellBack bool) {
	return NewWireDecoder().Decode(b)
}

// SetCredentialsClock sets the clock of a source made by
// ClientCredentials, for tests of its refresh timing.
func SetCredentialsClock(ts TokenSource, now func() time.Time) {
	ts.(*credentialsSource).now = now
}

// Retained returns the bytes an open stream keeps between messages: its
// frame buffer and the capacity of its decoder's scratch slices.
func (s *UpdateStream) Retained() int {
	d := s.dec
	n := cap(s.frame.buf) + cap(d.labelKey)
	n += (cap(d.stack) + cap(d.events) + cap(d.views)) * int(unsafe.Sizeof([]byte(nil)))
	for _, p := range d.parties {
		n += cap(p) * int(unsafe.Sizeof(""))
	}
	n += cap(d.ifaces) * int(unsafe.Sizeof(Identifier{}))
	return n
}

// SetCredentialsFetchTimeout sets how long a fetch of a source made by
// ClientCredentials may take when its HTTP client has no Timeout.
func SetCredentialsFetchTimeout(ts TokenSource, d time.Duration) {
	ts.(*credentialsSource).fetchTimeout = d
}

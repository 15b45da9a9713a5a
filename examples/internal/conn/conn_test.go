package conn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// TestFileTokenEmptyFile: an empty token file (being rewritten in place, or
// not written yet) is an error, not an empty token; the token written
// afterwards is read, even when the rewrite keeps the modification time.
func TestFileTokenEmptyFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	f := &FileToken{Path: path}
	tok, err := f.Token(ctx)
	require.ErrorContains(t, err, "is empty")
	require.Empty(t, tok)

	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, os.WriteFile(path, []byte("first\n"), 0o600))
	require.NoError(t, os.Chtimes(path, mod, mod))
	tok, err = f.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "first", tok)

	// Truncated and rewritten within one tick of a coarse clock: the same
	// modification time, another size.
	require.NoError(t, os.WriteFile(path, []byte("second-token\n"), 0o600))
	require.NoError(t, os.Chtimes(path, mod, mod))
	tok, err = f.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "second-token", tok)

	// Truncated: an error again, never the empty string.
	require.NoError(t, os.WriteFile(path, []byte("  \n"), 0o600))
	_, err = f.Token(ctx)
	require.ErrorContains(t, err, "is empty")
}

// TestFileTokenReplacedByRename: a sidecar replacing the token file
// atomically (write another file, rename it over the path) with a token of
// the same length, keeping the modification time (cp -p, rsync -t) or
// within one tick of a coarse clock: the new file's token is read.
func TestFileTokenReplacedByRename(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, os.WriteFile(path, []byte("token-AAAA\n"), 0o600))
	require.NoError(t, os.Chtimes(path, mod, mod))
	f := &FileToken{Path: path}
	tok, err := f.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "token-AAAA", tok)

	tmp := filepath.Join(dir, ".token.tmp")
	require.NoError(t, os.WriteFile(tmp, []byte("token-BBBB\n"), 0o600))
	require.NoError(t, os.Chtimes(tmp, mod, mod))
	require.NoError(t, os.Rename(tmp, path))
	tok, err = f.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "token-BBBB", tok, "the file was replaced; the old token is still sent")
}

// TestFileTokenReplacedTwiceInodeReused: two atomic replacements between
// reads, the second file getting the first one's inode number back (freed
// by the first rename; ext4 does), the same length and a preserved
// modification time: nothing in a stat tells the change, and the file's
// token is read all the same.
func TestFileTokenReplacedTwiceInodeReused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(tok string) uint64 {
		tmp := filepath.Join(dir, ".token.tmp")
		require.NoError(t, os.WriteFile(tmp, []byte(tok+"\n"), 0o600))
		require.NoError(t, os.Chtimes(tmp, mod, mod))
		require.NoError(t, os.Rename(tmp, path))
		st, err := os.Stat(path)
		require.NoError(t, err)
		return st.Sys().(*syscall.Stat_t).Ino
	}
	first := write("token-AAAA")
	f := &FileToken{Path: path}
	tok, err := f.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "token-AAAA", tok)
	for i := 0; i < 50; i++ {
		write("token-BBBB")
		if write("token-CCCC") == first {
			tok, err = f.Token(ctx)
			require.NoError(t, err)
			require.Equal(t, "token-CCCC", tok, "inode %d reused after %d rounds: the old token is still sent", first, i)
			return
		}
		write("token-AAAA") // back to the first token, keep trying
		tok, err = f.Token(ctx)
		require.NoError(t, err)
		require.Equal(t, "token-AAAA", tok)
		st, _ := os.Stat(path)
		first = st.Sys().(*syscall.Stat_t).Ino
	}
	t.Skip("this file system did not reuse the inode")
}

// TestTLSClientCertificateReadAtEachHandshake: the client certificate is
// read from its files at every handshake; a pair that cannot be loaded
// (the certificate replaced, not yet its key) is skipped for the one read
// last.
func TestTLSClientCertificateReadAtEachHandshake(t *testing.T) {
	certs, err := ledgertest.NewCerts("ingester")
	require.NoError(t, err)
	files, err := certs.WriteFiles(t.TempDir())
	require.NoError(t, err)
	cfg, err := TLS(files.CA, files.ClientCert, files.ClientKey, "")
	require.NoError(t, err)
	require.NotNil(t, cfg.GetClientCertificate)
	presented := func() []byte {
		c, err := cfg.GetClientCertificate(&tls.CertificateRequestInfo{})
		require.NoError(t, err)
		require.NotNil(t, c)
		return c.Certificate[0]
	}
	require.Equal(t, certs.Client.Certificate[0], presented())

	next, certPEM, keyPEM, err := certs.Issue("ingester", x509.ExtKeyUsageClientAuth, nil, nil)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(files.ClientCert, certPEM, 0o644))
	require.Equal(t, certs.Client.Certificate[0], presented(), "a certificate without its key is presented")
	require.NoError(t, os.WriteFile(files.ClientKey, keyPEM, 0o600))
	require.Equal(t, next.Certificate[0], presented(), "the rotated certificate is not presented")

	_, err = TLS(files.CA, files.ClientCert, files.CA, "")
	require.ErrorContains(t, err, "load client certificate", "a pair that cannot be loaded at start is an error")
}

// TestTokenEndpointRefusal reads ledger.TokenEndpointError's messages as
// they reach a call (wrapped in UNAUTHENTICATED's text) for what to change.
func TestTokenEndpointRefusal(t *testing.T) {
	wrapped := func(e *ledger.TokenEndpointError) error {
		return fmt.Errorf("ledger: GetUpdates: %w: rpc error: code = Unauthenticated desc = %s", ledger.ErrUnauthenticated, e.Error())
	}
	url := "https://idp.example/oauth/token"
	for _, c := range []struct {
		err  error
		want EndpointRefusal
	}{
		{errors.New("ledger: GetUpdates: Unauthenticated: the token expired"), NotTheEndpoint},
		{wrapped(&ledger.TokenEndpointError{TokenURL: url, StatusCode: 401, ErrorCode: "invalid_client"}), EndpointClient},
		{wrapped(&ledger.TokenEndpointError{TokenURL: url, StatusCode: 400, ErrorCode: "invalid_scope"}), EndpointClient},
		{wrapped(&ledger.TokenEndpointError{TokenURL: url, StatusCode: 403}), EndpointClient},
		{wrapped(&ledger.TokenEndpointError{TokenURL: url, StatusCode: 404}), EndpointURL},
		{wrapped(&ledger.TokenEndpointError{TokenURL: url, StatusCode: 405}), EndpointURL},
		{wrapped(&ledger.TokenEndpointError{TokenURL: url, StatusCode: 429}), EndpointFault},
		{wrapped(&ledger.TokenEndpointError{TokenURL: url, StatusCode: 408}), EndpointFault},
		{wrapped(&ledger.TokenEndpointError{TokenURL: url, StatusCode: 503}), EndpointFault},
		{wrapped(&ledger.TokenEndpointError{TokenURL: url, Reason: "connection refused"}), EndpointFault},
	} {
		require.Equal(t, c.want, TokenEndpointRefusal(c.err), c.err.Error())
	}
}

func TestRemoteTarget(t *testing.T) {
	for target, remote := range map[string]bool{
		"127.0.0.1:5001":                 false,
		"127.0.3.4:5001":                 false,
		"[::1]:5001":                     false,
		"localhost:5001":                 false,
		"LOCALHOST:5001":                 false,
		"dns:///localhost:5001":          false,
		"passthrough:///127.0.0.1:5001":  false,
		"unix:///run/participant.sock":   false,
		"unix-abstract:participant":      false,
		"validator:5001":                 true,
		"10.0.0.7:5001":                  true,
		"[2001:db8::1]:5001":             true,
		"dns:///validator.internal:5001": true,
		"passthrough:///192.0.2.1:5001":  true,
		"participant.example.com":        true,
	} {
		require.Equal(t, remote, RemoteTarget(target), target)
	}
}

package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// EnableTLS turns TLS on for srv, a server of the test's own (NewServer),
// as a deployment that authenticates roles by client certificate has it:
// certPEM and keyPEM are the server's certificate and key, and client
// certificates are verified against caPEM (ssl_ca_file). Connections
// without TLS are still accepted. It returns once the server has reloaded
// its configuration with TLS on.
//
// The server speaks TLS 1.2 at most (ssl_max_protocol_version), so that a
// test of a refused client certificate sees the refusal every time: under
// TLS 1.3 PostgreSQL judges the client's certificate after the client has
// finished its side of the handshake, and the client sees the server's
// alert or, if it was writing, a reset connection (which
// ingest.IsTransientDBError takes for a network fault). Under TLS 1.2 the
// refusal fails the handshake itself. Set ssl_max_protocol_version again
// (ALTER SYSTEM, pg_reload_conf) for a test of TLS 1.3.
func EnableTLS(tb testing.TB, srv *Server, certPEM, keyPEM, caPEM []byte) {
	tb.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(srv.Dir(), &st); err != nil {
		tb.Fatalf("pgtest: EnableTLS: %v", err)
	}
	for name, data := range map[string][]byte{"server.crt": certPEM, "server.key": keyPEM, "root.crt": caPEM} {
		path := filepath.Join(srv.Dir(), name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			tb.Fatalf("pgtest: EnableTLS: %v", err)
		}
		// The server's user must own the key, when the test runs as root.
		if err := os.Chown(path, int(st.Uid), int(st.Gid)); err != nil {
			tb.Fatalf("pgtest: EnableTLS: %v", err)
		}
	}
	admin, err := sqlx.Open("postgres", srv.DSN(""))
	if err != nil {
		tb.Fatalf("pgtest: EnableTLS: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, q := range []string{
		`ALTER SYSTEM SET ssl_cert_file = 'server.crt'`,
		`ALTER SYSTEM SET ssl_key_file = 'server.key'`,
		`ALTER SYSTEM SET ssl_ca_file = 'root.crt'`,
		`ALTER SYSTEM SET ssl_max_protocol_version = 'TLSv1.2'`,
		`ALTER SYSTEM SET ssl = on`,
		`SELECT pg_reload_conf()`,
	} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			tb.Fatalf("pgtest: EnableTLS: %s: %v", q, err)
		}
	}
	for {
		var on string
		if admin.GetContext(ctx, &on, `SHOW ssl`) == nil && on == "on" {
			return
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("pgtest: EnableTLS: TLS not on after reloading the configuration")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

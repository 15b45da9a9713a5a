package main

import (
	"net/url"
	"os"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/require"
)

// TestPostgresRefusingTheClientCertificateSaysWhatToRenew: a client
// certificate PostgreSQL refuses in the TLS handshake is not waited out as
// an unreachable database: ingestd stops (exit 1), its error naming the
// DSN's certificate files, as docs/OPERATIONS.md's rotation table says of
// every credential.
func TestPostgresRefusingTheClientCertificateSaysWhatToRenew(t *testing.T) {
	trusted, err := ledgertest.NewCerts("postgres")
	require.NoError(t, err)
	srv := pgtest.NewServer(t, pgtest.ServerOptions{})
	pgtest.EnableTLS(t, srv, trusted.ServerCertPEM, trusted.ServerKeyPEM, trusted.CAPEM)

	untrusted, err := ledgertest.NewCerts("postgres")
	require.NoError(t, err)
	files, err := untrusted.WriteFiles(t.TempDir())
	require.NoError(t, err)
	u, err := url.Parse(srv.DSN("postgres"))
	require.NoError(t, err)
	q := u.Query()
	q.Set("sslmode", "require")
	q.Set("sslcert", files.ClientCert)
	q.Set("sslkey", files.ClientKey)
	u.RawQuery = q.Encode()

	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: u.String(), "TXHISTORY_PLAINTEXT": "true"}
	logs := &syncbuf.Buffer{}
	code, _ := runDaemon([]string{"-metrics-addr", "127.0.0.1:0"}, env, logs, make(chan os.Signal, 1))
	c, msg := stoppedBy(t, code, logs)
	require.Equal(t, 1, c, logs.String())
	require.Contains(t, msg, "remote error: tls")
	require.Contains(t, msg, "sslcert", "the error does not name the DSN's certificate files")
	require.NotContains(t, logs.String(), "database not reachable", "the refusal was waited out as an unreachable database")
}

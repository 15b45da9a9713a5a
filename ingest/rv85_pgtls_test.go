package ingest_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// tlsServer is a private PostgreSQL server that speaks TLS with the
// server certificate of certs and verifies the client certificates
// presented to it against certs' CA (ssl_ca_file), as a deployment using
// client certificates for the ingestion role does.
func tlsServer(t *testing.T, certs *ledgertest.Certs) *pgtest.Server {
	t.Helper()
	srv := pgtest.NewServer(t, pgtest.ServerOptions{})
	pgtest.EnableTLS(t, srv, certs.ServerCertPEM, certs.ServerKeyPEM, certs.CAPEM)
	return srv
}

// withClientCert returns dsn over TLS, presenting the client certificate
// of certs (whose files are written to a directory of the test).
func withClientCert(t *testing.T, dsn string, certs *ledgertest.Certs) string {
	t.Helper()
	files, err := certs.WriteFiles(t.TempDir())
	require.NoError(t, err)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("sslmode", "require")
	q.Set("sslcert", files.ClientCert)
	q.Set("sslkey", files.ClientKey)
	u.RawQuery = q.Encode()
	return u.String()
}

// A client certificate PostgreSQL refuses in the TLS handshake (expired,
// revoked, or, here, issued by a CA the server does not trust) is an
// authentication failure no retry gets past, as the participant's refusal
// of one is (ledger.ErrTLS, "Like an authentication failure, it is not
// retryable"), and as PostgreSQL's refusal of the DSN's password is
// (28P01): the package doc promises that authentication failures stop Run.
// IsTransientDBError takes the server's TLS alert for a network fault, so
// Run retries it for ever ("database fault" after "database fault") and
// ingestd waits for the database without end, where it should stop and
// say which credential to renew.
func TestPostgresRefusingTheClientCertificateIsNotRetried(t *testing.T) {
	trusted, err := ledgertest.NewCerts("postgres")
	require.NoError(t, err)
	srv := tlsServer(t, trusted)
	plain, err := sqlx.Open("postgres", srv.DSN("postgres"))
	require.NoError(t, err)
	defer plain.Close()
	require.NoError(t, schema.Migrate(context.Background(), plain))

	// The trusted certificate is accepted: the server's TLS works.
	good, err := sqlx.Open("postgres", withClientCert(t, srv.DSN("postgres"), trusted))
	require.NoError(t, err)
	defer good.Close()
	var ssl bool
	require.NoError(t, good.Get(&ssl, `SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`))
	require.True(t, ssl)

	untrusted, err := ledgertest.NewCerts("postgres")
	require.NoError(t, err)
	bad, err := sqlx.Open("postgres", withClientCert(t, srv.DSN("postgres"), untrusted))
	require.NoError(t, err)
	defer bad.Close()
	perr := bad.Ping()
	require.Error(t, perr)
	require.ErrorContains(t, perr, "tls")
	require.False(t, ingest.IsTransientDBError(perr), "IsTransientDBError takes PostgreSQL's refusal of the client certificate for a transient fault: %v", perr)

	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	appendN(t, p, 0, 3)
	b := &testBundle{p: p, db: bad, client: dial(t, p.Addr(), nil)}
	ing := newIngester(t, b, ingest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	err = ing.Run(ctx)
	require.Error(t, err)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "Run retried PostgreSQL's refusal of the client certificate until its context ended")
	require.Less(t, time.Since(start), 10*time.Second)
	require.ErrorContains(t, err, "tls")
}

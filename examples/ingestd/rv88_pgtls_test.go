package main

import (
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// PostgreSQL whose TLS settings ingestd cannot meet (here ssl_ciphers
// holding only a cipher Go does not implement) refuses the handshake with
// the alert "handshake failure", whatever the client certificate: ingestd
// stops (not retried), but tells to renew the client certificate the DSN
// names, "expired, revoked or not of a CA the server trusts", where the DSN
// names none; the operator renews a certificate and meets the same refusal.
func TestPostgresRefusingTheHandshakeForItsTLSSettingsSaysSo(t *testing.T) {
	certs, err := ledgertest.NewCerts("postgres")
	require.NoError(t, err)
	srv := pgtest.NewServer(t, pgtest.ServerOptions{})
	pgtest.EnableTLS(t, srv, certs.ServerCertPEM, certs.ServerKeyPEM, certs.CAPEM)
	admin, err := sqlx.Open("postgres", srv.DSN(""))
	require.NoError(t, err)
	defer admin.Close()
	// TLS 1.2 at most, as EnableTLS sets it: 1.3's cipher suites are not
	// ssl_ciphers'.
	for _, q := range []string{`ALTER SYSTEM SET ssl_ciphers = 'ECDHE-ECDSA-CAMELLIA256-SHA384'`, `SELECT pg_reload_conf()`} {
		_, err := admin.Exec(q)
		require.NoError(t, err, q)
	}
	require.Eventually(t, func() bool {
		var c string
		return admin.Get(&c, `SHOW ssl_ciphers`) == nil && c == "ECDHE-ECDSA-CAMELLIA256-SHA384"
	}, 10*time.Second, 50*time.Millisecond)

	u, err := url.Parse(srv.DSN("postgres"))
	require.NoError(t, err)
	q := u.Query()
	q.Set("sslmode", "require") // and no client certificate
	u.RawQuery = q.Encode()

	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: u.String(), "TXHISTORY_PLAINTEXT": "true"}
	logs := &syncbuf.Buffer{}
	code, _ := runDaemon([]string{"-metrics-addr", "127.0.0.1:0"}, env, logs, make(chan os.Signal, 1))
	c, msg := stoppedBy(t, code, logs)
	require.Equal(t, 1, c, logs.String())
	require.Contains(t, msg, "remote error: tls: handshake failure")
	require.NotContains(t, msg, "expired, was revoked", "the error blames a client certificate the DSN does not name")
	require.Contains(t, msg, "ssl_ciphers", "the error does not name the server's TLS settings")
}

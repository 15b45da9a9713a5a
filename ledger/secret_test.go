package ledger_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

func randomSecret(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// passwordServer starts a private PostgreSQL whose role ingest_role must
// log in with a password (SCRAM), and returns the role's connection string
// and a copy with a wrong password.
func passwordServer(t *testing.T, password string) (dsn, wrongDSN string) {
	t.Helper()
	srv := pgtest.NewServer(t, pgtest.ServerOptions{})
	admin, err := sqlx.Open("postgres", srv.DSN("postgres"))
	require.NoError(t, err)
	defer admin.Close()
	var hba string
	require.NoError(t, admin.Get(&hba, `SHOW hba_file`))
	old, err := os.ReadFile(hba)
	require.NoError(t, err)
	rule := "host all ingest_role 127.0.0.1/32 scram-sha-256\nhost all ingest_role ::1/128 scram-sha-256\n"
	require.NoError(t, os.WriteFile(hba, append([]byte(rule), old...), 0o600))
	_, err = admin.Exec(`SELECT pg_reload_conf()`)
	require.NoError(t, err)
	_, err = admin.Exec(`SET password_encryption = 'scram-sha-256'`)
	require.NoError(t, err)
	_, err = admin.Exec(`CREATE ROLE ingest_role LOGIN PASSWORD ` + pq.QuoteLiteral(password))
	require.NoError(t, err)
	_, err = admin.Exec(`CREATE DATABASE integration OWNER ingest_role`)
	require.NoError(t, err)
	dsn = fmt.Sprintf("postgres://ingest_role:%s@127.0.0.1:%d/integration?sslmode=disable", password, srv.Port())
	wrongDSN = fmt.Sprintf("postgres://ingest_role:%s@127.0.0.1:%d/integration?sslmode=disable", "not-"+password, srv.Port())
	return dsn, wrongDSN
}

// Tokens, the OAuth2 client secret and DSN passwords never appear in logs
// (JSON, debug level) or in returned errors: not in a normal run with
// retries, nor when the token, the password or the token endpoint is wrong.
func TestSecretsNeverLogged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own PostgreSQL")
	}
	var (
		password     = randomSecret("pgpw")
		clientSecret = randomSecret("cs")
		staticToken  = randomSecret("st")
		wrongToken   = randomSecret("wt")
	)
	dsn, wrongDSN := passwordServer(t, password)
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, schema.Migrate(ctxT(t), db))

	logs := &syncbuf.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
			logger.Error("test: run ended", "err", err)
		}
	}

	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(10 * time.Millisecond))
	require.NoError(t, err)
	defer p.Close()
	for i := range 200 {
		owner := tlsParty
		if i%5 == 0 {
			owner = "other::1220"
		}
		_, err := p.Append(&ledger.Transaction{Events: []ledger.Event{&ledger.CreatedEvent{
			ContractID: fmt.Sprintf("00c%d", i), TemplateID: ledger.MustParseIdentifier("#pkg:Mod:T"),
			CreateArguments: ledger.Record(nil, ledger.F("owner", ledger.Party(owner))),
			WitnessParties:  []string{owner}, Signatories: []string{owner},
		}}})
		require.NoError(t, err)
	}
	ep := newTokenEndpoint(t, "ingester", clientSecret, "")
	ep.set(func(e *tokenEndpoint) { e.onIssue = p.SetToken; e.ttl = 2 * time.Second })

	run := func(db *sqlx.DB, tokens ledger.TokenSource, end int64) error {
		c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true, Tokens: tokens}})
		require.NoError(t, err)
		defer c.Close()
		ing, err := ingest.New(db, c, ingest.Config{
			Parties: []string{tlsParty}, EndOffset: end, Logger: logger, MaxBatchSize: 16,
			MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, MaxAttempts: 4,
		})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return ing.Run(ctx)
	}
	oauth := func(secret string) ledger.TokenSource {
		return ledger.ClientCredentials(context.Background(), ep.URL(), "ingester", secret)
	}

	// 1. A normal run with OAuth2 tokens, broken streams and injected
	// faults (all retried and logged).
	p.DropStreamsAfter(30)
	p.FailNext("GetUpdates", 2, codes.Unavailable)
	require.NoError(t, run(db, oauth(clientSecret), 100))
	p.DropStreamsAfter(0)

	// 2. With a static token the participant does not accept.
	p.SetToken(staticToken)
	err = run(db, ledger.StaticToken(wrongToken), 150)
	require.ErrorIs(t, err, ledger.ErrUnauthenticated)
	keep(err)
	// ... and the right one.
	require.NoError(t, run(db, ledger.StaticToken(staticToken), 150))

	// 3. A wrong client secret, then a failing token endpoint that echoes
	// the request (client secret included) in its error.
	err = run(db, oauth("wrong"+clientSecret), 200)
	require.ErrorIs(t, err, ledger.ErrUnauthenticated)
	keep(err)
	ep.set(func(e *tokenEndpoint) { e.fail = http.StatusInternalServerError })
	err = run(db, oauth(clientSecret), 200)
	require.Error(t, err)
	keep(err)
	ep.set(func(e *tokenEndpoint) { e.fail = 0 })

	// 4. A wrong DSN password, and a malformed DSN carrying the password.
	bad, err := sqlx.Open("postgres", wrongDSN)
	require.NoError(t, err)
	defer bad.Close()
	err = run(bad, oauth(clientSecret), 200)
	require.ErrorContains(t, err, "password authentication failed")
	keep(err)
	keep(schema.Migrate(ctxT(t), bad))
	malformed, err := sqlx.Open("postgres", strings.Replace(dsn, "127.0.0.1:", "127.0.0.1:x", 1))
	require.NoError(t, err)
	defer malformed.Close()
	err = run(malformed, oauth(clientSecret), 200)
	require.Error(t, err)
	keep(err)

	// Finally everything is ingested with the right settings.
	require.NoError(t, run(db, oauth(clientSecret), 200))

	out := logs.String()
	require.Contains(t, out, `"level":"WARN"`, "the faults were logged")
	require.Contains(t, out, `"offset"`)
	require.GreaterOrEqual(t, len(errs), 6)
	for _, secret := range []string{password, clientSecret, staticToken, wrongToken} {
		require.NotContains(t, out, secret, "a secret in the logs")
		for _, e := range errs {
			require.NotContains(t, e.Error(), secret, "a secret in an error")
			require.NotContains(t, fmt.Sprintf("%+v", e), secret, "a secret in an error")
		}
	}
	// Tokens the endpoint issued are secrets too.
	_, issued := ep.counts()
	require.Greater(t, issued, 0)
	for i := 1; i <= issued; i++ {
		require.NotContains(t, out, fmt.Sprintf("access-%d\"", i))
	}
	t.Logf("%d errors and %d bytes of logs checked", len(errs), len(out))
}

package ingest_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// missingEqualsDSNs are connection strings lib/pq reads as key=value pairs
// and refuses with `missing "=" after "<word>" in connection info string`,
// the word a piece of the password: a password with a blank left
// unquoted, a URL whose scheme was left out.
var missingEqualsDSNs = []string{
	"host=127.0.0.1 port=1 user=txuser password=S3cret Pw9x dbname=integration sslmode=disable",
	"txuser:S3cretPw9x@127.0.0.1:1/integration",
}

// TestSecRedactMissingEquals: Redact withholds the word lib/pq quotes.
func TestSecRedactMissingEquals(t *testing.T) {
	for _, dsn := range missingEqualsDSNs {
		_, err := pq.NewConnector(dsn)
		require.ErrorContains(t, err, `missing "=" after`, "not the case under test: %q", dsn)
		got := ingest.Redact("ingest: load checkpoint: " + err.Error())
		require.NotContains(t, got, "Pw9x", "lib/pq said: %v", err)
		require.Contains(t, got, "ingest: load checkpoint: ", "the rest of the message stays")
		require.Contains(t, got, "in connection info string", "the rest of the message stays")
	}
}

// TestSecRunWithholdsMissingEquals: Run's error and its log lines for such
// a connection string, whichever lock mode takes the first connection.
func TestSecRunWithholdsMissingEquals(t *testing.T) {
	for _, dsn := range missingEqualsDSNs {
		for name, lock := range map[string]ingest.LockPolicy{"wait": ingest.LockWait, "none": ingest.LockNone} {
			t.Run(name, func(t *testing.T) {
				p, err := ledgertest.New()
				require.NoError(t, err)
				t.Cleanup(p.Close)
				db, err := sqlx.Open("postgres", dsn)
				require.NoError(t, err)
				t.Cleanup(func() { db.Close() })
				var logs syncbuf.Buffer
				ing, err := ingest.New(db, dial(t, p.Addr(), nil), ingest.Config{
					Parties: []string{treasury}, Handler: effectsHandler, Lock: lock, MaxAttempts: 2,
					MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
					Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				})
				require.NoError(t, err)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				err = ing.Run(ctx)
				require.ErrorContains(t, err, `missing "=" after`)
				require.NotContains(t, err.Error(), "Pw9x", "a piece of the password in Run's error")
				require.NotContains(t, logs.String(), "Pw9x", "a piece of the password in the log")
			})
		}
	}
}

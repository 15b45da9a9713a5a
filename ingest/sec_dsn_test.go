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
	"github.com/stretchr/testify/require"
)

// A connection string net/url cannot parse (a password with an unencoded
// "/") fails every connection with an error quoting it. Run must not hand
// it back, or log it, whichever lock mode takes the first connection.
func TestSecRunWithholdsUnparsableDSN(t *testing.T) {
	const secret = "S3cr/etPw"
	for name, lock := range map[string]ingest.LockPolicy{"wait": ingest.LockWait, "none": ingest.LockNone} {
		t.Run(name, func(t *testing.T) {
			p, err := ledgertest.New()
			require.NoError(t, err)
			t.Cleanup(p.Close)
			db, err := sqlx.Open("postgres", "postgres://txuser:"+secret+"@127.0.0.1:1/db?sslmode=disable")
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
			require.Error(t, err)
			t.Logf("Run: %v", err)
			require.NotContains(t, err.Error(), "S3cr")
			require.NotContains(t, err.Error(), "etPw")
			require.NotContains(t, logs.String(), "S3cr")
			require.NotContains(t, logs.String(), "etPw")

			// The review table's methods, called by an operator's tool
			// that does not run the Ingester.
			_, err = ing.SetAsideTransactions(ctx)
			require.Error(t, err)
			require.NotContains(t, err.Error(), "S3cr")
			err = ing.ResolveSetAside(ctx, "upd-1", "credited by hand")
			require.Error(t, err)
			require.NotContains(t, err.Error(), "S3cr")
		})
	}
}

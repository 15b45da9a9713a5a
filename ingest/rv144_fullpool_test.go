package ingest_test

import (
	"database/sql"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// The application holds every connection of the pool but the lock's for
// several of LockCheck's rounds, at a batch's start, on a pool of 3 and on
// one of 4 whose limit it lowers to 2 while holding 3 (OpenConnections
// above the limit): a genuine wait for the pool, not a database fault.
// The Ingester warns once that the pool's other users hold the
// connections, counts no error, does not fail with ErrPoolExhausted, and
// ingests once the application gives them back.
func TestRV144FullPoolIsWaitedForNotADatabaseFault(t *testing.T) {
	for _, tc := range []struct {
		name           string
		limit, lowered int
		held           int
	}{{"pool of 3", 3, 0, 2}, {"limit lowered below the open connections", 4, 2, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, db, p, client := embedRig(t)
			var w ledgertest.TokenWorld
			_, err := p.Append(w.Mint("hot::1", "10"))
			require.NoError(t, err)
			db.SetMaxOpenConns(tc.limit)

			logs := &syncbuf.Buffer{}
			ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"hot::1"}, LockCheck: 500 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(logs, nil))})
			require.NoError(t, err)
			done := runInBackground(t, ctx, ing)
			require.Eventually(t, func() bool { return ing.Stats().Offset == p.LedgerEnd() }, 10*time.Second, 10*time.Millisecond)

			var app []*sql.Conn
			for range tc.held {
				c, err := db.Conn(ctx)
				require.NoError(t, err)
				app = append(app, c)
			}
			if tc.lowered > 0 {
				db.SetMaxOpenConns(tc.lowered)
			}
			_, err = p.Append(w.Mint("hot::1", "11"))
			require.NoError(t, err)
			time.Sleep(2500 * time.Millisecond) // five rounds of LockCheck
			require.NotEqual(t, p.LedgerEnd(), ing.Stats().Offset, "committed while the application held the pool")
			require.Zero(t, ing.Stats().Errors["database"], "a full pool counted as a database fault:\n%s", logs.String())
			require.Equal(t, 1, strings.Count(logs.String(), "the pool's other users hold them"), "the warning once:\n%s", logs.String())
			select {
			case err := <-done:
				t.Fatalf("Run returned %v while the application held the pool:\n%s", err, logs.String())
			default:
			}

			for _, c := range app {
				c.Close()
			}
			require.Eventually(t, func() bool { return ing.Stats().Offset == p.LedgerEnd() }, 10*time.Second, 10*time.Millisecond)
			requireStopEndsRun(t, ing, done, "streaming", func() {})
			require.Equal(t, int64(2), ing.Stats().Transactions)
		})
	}
}

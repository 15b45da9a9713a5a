package ingest_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// setStatementTimeout sets statement_timeout for every session of the
// server, those open included (ALTER SYSTEM and a reload), as a DBA does.
func setStatementTimeout(t *testing.T, dsn string, d time.Duration) {
	t.Helper()
	admin, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.Exec(`ALTER SYSTEM SET statement_timeout = ` + strconv.FormatInt(d.Milliseconds(), 10))
	require.NoError(t, err)
	_, err = admin.Exec(`SELECT pg_reload_conf()`)
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond) // the reload reaches every session
}

// withDatabaseStatementTimeout sets statement_timeout for new sessions of
// b's database (ALTER DATABASE) and returns a copy of b whose pool opens
// such sessions.
func withDatabaseStatementTimeout(t *testing.T, b *testBundle, d time.Duration) *testBundle {
	t.Helper()
	var name string
	require.NoError(t, b.db.Get(&name, `SELECT current_database()`))
	_, err := b.db.Exec(`ALTER DATABASE ` + pq.QuoteIdentifier(name) + ` SET statement_timeout = ` + strconv.FormatInt(d.Milliseconds(), 10))
	require.NoError(t, err)
	db, err := sqlx.Open("postgres", b.dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	tb := *b
	tb.db = db
	return &tb
}

// forEachPoisonPolicy runs f as the subtests SetAside and Halt.
func forEachPoisonPolicy(t *testing.T, f func(t *testing.T, policy ingest.PoisonPolicy)) {
	t.Helper()
	t.Run("SetAside", func(t *testing.T) { f(t, ingest.PoisonSetAside) })
	t.Run("Halt", func(t *testing.T) { f(t, ingest.PoisonHalt) })
}

// holdEffectsLocked has a session of db hold the effects table (ACCESS
// EXCLUSIVE, as an exchange's report or a migration of its own table may)
// for d, from now; t's cleanup waits for its release.
func holdEffectsLocked(t *testing.T, db *sqlx.DB, d time.Duration) {
	t.Helper()
	ltx, err := db.Beginx()
	require.NoError(t, err)
	_, err = ltx.Exec(`LOCK TABLE effects IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)
	released := make(chan struct{})
	go func() {
		defer close(released)
		time.Sleep(d) // the lock's duration, not a synchronisation
		_ = ltx.Rollback()
	}()
	t.Cleanup(func() { <-released })
}

// A statement timeout (SQLSTATE 57014 with the Ingester's context alive)
// is a database fault like a lost connection: here the handler's table is
// locked for a while by another session (an exchange's report, a
// migration of its own table) and the server's statement_timeout cancels
// the handler's INSERT. The batch must be retried once the lock is gone,
// with nothing set aside: the transactions are not at fault. The Ingester
// took 57014 for the Handler rejecting the batch: under PoisonSetAside it
// handled the batch one transaction at a time, each timing out, and set
// every one aside (their effects never applied); under PoisonHalt Run
// stopped, blaming the first transaction.
func TestStatementTimeoutIsRetriedNotSetAside(t *testing.T) {
	forEachPoisonPolicy(t, func(t *testing.T, policy ingest.PoisonPolicy) {
		b, _ := privateBundle(t)
		appendN(t, b.p, 0, 50)
		runToEnd(t, b, ingest.Config{})
		setStatementTimeout(t, b.dsn, 300*time.Millisecond)

		other, err := sqlx.Open("postgres", b.dsn)
		require.NoError(t, err)
		defer other.Close()
		holdEffectsLocked(t, other, 1500*time.Millisecond)

		var timedOut atomic.Int64 // handler statements the timeout cancelled
		h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch) error {
			err := effectsHandler(ctx, tx, batch)
			if pe := (*pq.Error)(nil); errors.As(err, &pe) && pe.Code == "57014" {
				timedOut.Add(1)
			}
			return err
		})
		appendN(t, b.p, 50, 30)
		ing := newIngester(t, b, ingest.Config{Handler: h, Poison: policy, EndOffset: b.p.LedgerEnd()})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		require.NoError(t, ing.Run(ctx))
		require.Positive(t, timedOut.Load(), "no handler statement timed out: nothing was tested")
		aside, err := ing.SetAsideTransactions(ctx)
		require.NoError(t, err)
		require.Empty(t, len(aside), "transactions set aside for a statement timeout: %v", aside)
		requireAllOnce(t, b)
	})
}

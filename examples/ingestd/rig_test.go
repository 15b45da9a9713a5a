package main

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// demoLedger starts a fake participant holding n demo transactions of
// demoParty and makes an empty Integration DB; it returns the participant,
// the database's DSN and a connection to it, closed at the test's end.
func demoLedger(t *testing.T, n int) (*ledgertest.Participant, string, *sqlx.DB) {
	t.Helper()
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	_, err = p.Append(demoTxs(demoParty, 0, n)...)
	require.NoError(t, err)
	dsn := pgtest.NewDSN(t)
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return p, dsn, db
}

// waitIngested waits until the checkpoint in db is at p's ledger end,
// failing with the daemon's logs after 30 s.
func waitIngested(t *testing.T, db *sqlx.DB, p *ledgertest.Participant, logs *syncbuf.Buffer) {
	t.Helper()
	require.Eventually(t, func() bool {
		var off int64
		_ = db.Get(&off, `SELECT ledger_offset FROM txhistory.checkpoint`)
		return off == p.LedgerEnd()
	}, 30*time.Second, 20*time.Millisecond, logs.String())
}

// holdMigrationLock takes the schema's migration lock on a session of db of
// its own, as another instance's migrator (or the migration job) holds it;
// release unlocks it, and the session is closed at the test's end.
func holdMigrationLock(t *testing.T, db *sqlx.DB) (release func()) {
	t.Helper()
	ctx := context.Background()
	holder, err := db.Connx(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { holder.Close() })
	_, err = holder.ExecContext(ctx, `SELECT pg_advisory_lock($1, hashtext('txhistory'))`, 0x74786d67)
	require.NoError(t, err)
	return func() {
		t.Helper()
		_, err := holder.ExecContext(ctx, `SELECT pg_advisory_unlock($1, hashtext('txhistory'))`, 0x74786d67)
		require.NoError(t, err)
	}
}

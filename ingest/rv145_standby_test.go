package ingest_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A DSN that reaches a hot standby (a failover that moved the primary,
// with the DSN's address still on the old one, now demoted): the server
// is restarted in recovery (standby.signal), as a standby is. lib/pq
// begins every transaction READ WRITE, which a standby refuses ("cannot
// set transaction read-write mode during recovery", 0A000): Run, under
// PoisonSetAside, must stop with that error, mid-run and at its start,
// nothing set aside nor retried without end, and once the server is
// promoted a new Run must ingest the rest once.
func TestRV145HotStandbyDSN(t *testing.T) {
	srv := pgtest.NewServer(t, pgtest.ServerOptions{})
	admin, err := sqlx.Open("postgres", srv.DSN("postgres"))
	require.NoError(t, err)
	_, err = admin.Exec(`CREATE DATABASE integ`)
	require.NoError(t, err)
	require.NoError(t, admin.Close())
	db, err := sqlx.Open("postgres", srv.DSN("integ"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, schema.Migrate(ctx, db))
	require.NoError(t, createEffects(db))
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	b := &testBundle{p: p, db: db, dsn: srv.DSN("integ"), client: dial(t, p.Addr(), nil)}
	appendN(t, p, 0, 10)
	cfg := ingest.Config{Poison: ingest.PoisonSetAside, LockCheck: 200 * time.Millisecond}

	ing := newIngester(t, b, cfg)
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset >= p.LedgerEnd() }, 20*time.Second, 10*time.Millisecond)
	require.NoError(t, srv.Stop(ctx))
	require.NoError(t, os.WriteFile(filepath.Join(srv.Dir(), "standby.signal"), nil, 0o600))
	require.NoError(t, srv.Start(ctx))
	var inRecovery bool
	require.NoError(t, db.Get(&inRecovery, `SELECT pg_is_in_recovery()`))
	require.True(t, inRecovery)
	appendN(t, p, 10, 10)
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop on a database in recovery")
	}
	require.ErrorContains(t, err, "read-write mode during recovery")
	var counted int64
	for _, n := range ing.Stats().Errors {
		counted += n
	}
	require.NotZero(t, counted, "the refusal is counted in Stats.Errors")

	// Started again on the standby: the same error at once.
	err = newIngester(t, b, cfg).Run(ctx)
	require.ErrorContains(t, err, "read-write mode during recovery")
	var setAside int
	require.NoError(t, db.Get(&setAside, `SELECT count(*) FROM txhistory.review_transaction`))
	require.Zero(t, setAside)

	// Promoted, it is the primary: the rest is ingested, once.
	var promoted bool
	require.NoError(t, db.Get(&promoted, `SELECT pg_promote()`))
	require.True(t, promoted)
	runToEnd(t, b, cfg)
	s := readState(t, db)
	want := treasuryTxs(p)
	require.Len(t, s.Effects, len(want))
	for i, tx := range want {
		require.Equal(t, tx.UpdateID+"@"+strconv.FormatInt(tx.Offset, 10), s.Effects[i])
	}
}

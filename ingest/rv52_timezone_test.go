package ingest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// SetAsideTransactions returns its times in UTC, as the rest of
// txhistory's reads do, whatever the session's TimeZone (a role's or
// database's default, here a half-hour offset).
func TestRV52SetAsideTimesAreInUTCWhateverTheSessionTimeZone(t *testing.T) {
	b := setup(t)
	_, err := b.db.Exec(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET TimeZone = %L', current_database(), 'Asia/Kolkata'); END $$`)
	require.NoError(t, err)
	db, err := sqlx.Open("postgres", b.dsn) // new sessions take the setting
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	var tz string
	require.NoError(t, db.Get(&tz, `SHOW TimeZone`))
	require.Equal(t, "Asia/Kolkata", tz)
	b.db = db
	appendN(t, b.p, 0, 1)
	refuse := ingest.HandlerFunc(func(context.Context, *sqlx.Tx, *ingest.Batch) error { return errors.New("my service refuses it") })
	ing := newIngester(t, b, ingest.Config{Handler: refuse, Poison: ingest.PoisonSetAside, EndOffset: b.p.LedgerEnd()})
	require.NoError(t, ing.Run(context.Background()))

	aside, err := ing.SetAsideTransactions(context.Background())
	require.NoError(t, err)
	require.Len(t, aside, 1)
	require.NotNil(t, aside[0].RecordTime)
	require.True(t, aside[0].RecordTime.Equal(treasuryTxs(b.p)[0].RecordTime))
	require.Equal(t, time.UTC, aside[0].RecordTime.Location(), "record time read back as %s", aside[0].RecordTime)
	require.Equal(t, time.UTC, aside[0].SetAsideAt.Location(), "set aside at read back as %s", aside[0].SetAsideAt)
}

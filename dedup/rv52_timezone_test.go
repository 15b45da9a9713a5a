package dedup_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// Since returns record times in UTC, as the rest of txhistory's reads do,
// whatever the session's TimeZone (a role's or database's default, here a
// half-hour offset): recovery.Packages reports them (FirstSeen, LastSeen)
// and the restore runbook prints them beside times in UTC.
func TestRV52SinceIsInUTCWhateverTheSessionTimeZone(t *testing.T) {
	ctx := context.Background()
	db, s := migratedStore(t)
	_, err := db.Exec(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET TimeZone = %L', current_database(), 'Asia/Kolkata'); END $$`)
	require.NoError(t, err)
	db.SetMaxIdleConns(0) // closes the idle connections: new sessions take the setting
	db.SetMaxIdleConns(2)
	var tz string
	require.NoError(t, db.Get(&tz, `SHOW TimeZone`))
	require.Equal(t, "Asia/Kolkata", tz)

	t0 := time.Date(2026, 1, 1, 0, 0, 0, 123456000, time.UTC)
	sqlTx := db.MustBegin()
	_, err = s.ClaimTx(ctx, sqlTx, []*ledger.Transaction{tx("a", 1, t0)})
	require.NoError(t, err)
	require.NoError(t, sqlTx.Commit())
	got, err := s.Since(ctx, db, t0)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.True(t, got[0].RecordTime.Equal(t0))
	require.Equal(t, time.UTC, got[0].RecordTime.Location(), "record time read back as %s", got[0].RecordTime)
}

package checkpoint_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/stretchr/testify/require"
)

// Rewinds returns its times in UTC, as Get does, whatever the session's
// TimeZone (a role's or database's default, here a half-hour offset): the
// restore runbook prints the audit row's time beside times in UTC.
func TestRV52RewindsAreInUTCWhateverTheSessionTimeZone(t *testing.T) {
	ctx := context.Background()
	db, s := setup(t)
	_, err := db.Exec(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET TimeZone = %L', current_database(), 'Asia/Kolkata'); END $$`)
	require.NoError(t, err)
	db.SetMaxIdleConns(0) // closes the idle connections: new sessions take the setting
	db.SetMaxIdleConns(2)
	var tz string
	require.NoError(t, db.Get(&tz, `SHOW TimeZone`))
	require.Equal(t, "Asia/Kolkata", tz)

	_, err = s.Init(ctx, db, 0)
	require.NoError(t, err)
	t5 := time.Date(2026, 2, 1, 0, 0, 5, 0, time.UTC)
	require.NoError(t, advance(t, db, s, 0, checkpoint.Checkpoint{Offset: 900, UpdateID: "u900", RecordTime: t5, SynchronizerID: "s",
		RecordTimes: map[string]time.Time{"s": t5}}))
	tRec := t5.Add(-time.Second)
	tx := db.MustBegin()
	require.NoError(t, s.RewindTx(ctx, tx, checkpoint.Rewind{From: 900, To: 1400, RecoveryTime: tRec, SynchronizerID: "s", Mode: "non-unique"}))
	require.NoError(t, tx.Commit())
	rw, err := s.Rewinds(ctx, db)
	require.NoError(t, err)
	require.Len(t, rw, 1)
	require.True(t, rw[0].RecoveryTime.Time.Equal(tRec))
	require.Equal(t, time.UTC, rw[0].RecoveryTime.Time.Location(), "recovery time read back as %s", rw[0].RecoveryTime.Time)
	require.Equal(t, time.UTC, rw[0].RewoundAt.Location(), "rewound at read back as %s", rw[0].RewoundAt)
}

package schema_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// Versions returns AppliedAt in UTC, as txhistory's other reads return
// their times, whatever the session's TimeZone (a database default here).
func TestVersionsAppliedAtInUTCWhateverTheSessionTimeZone(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(ctx, db))
	_, err := db.Exec(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET TimeZone = %L', current_database(), 'Asia/Kolkata'); END $$`)
	require.NoError(t, err)
	db.SetMaxIdleConns(0) // closes the idle connections: new sessions take the setting
	db.SetMaxIdleConns(2)
	var tz string
	require.NoError(t, db.Get(&tz, `SHOW TimeZone`))
	require.Equal(t, "Asia/Kolkata", tz)
	vs, err := schema.Versions(ctx, db)
	require.NoError(t, err)
	require.NotEmpty(t, vs)
	for _, v := range vs {
		require.Equal(t, time.UTC, v.AppliedAt.Location(), "migration %d applied at %s", v.Version, v.AppliedAt)
	}
}

package dedup_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// A prune whose context ends while its DELETE waits (here for a lock
// another session holds on the table, as a VACUUM FULL or a report does)
// reports that end: errors.Is finds context.DeadlineExceeded, not only
// lib/pq's "canceling statement due to user request", so that a retention
// job run under a deadline can tell it from a database fault.
func TestRV94PruneEndedMidStatementReportsTheContext(t *testing.T) {
	db, s := migratedStore(t)
	lock, err := db.Beginx()
	require.NoError(t, err)
	defer lock.Rollback()
	_, err = lock.Exec(`LOCK TABLE ` + schema.Qualify(schema.DefaultName, "ingested_update") + ` IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = s.PruneBefore(ctx, db, time.Now())
	require.Error(t, err)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "the prune's context ended mid-statement, but its error does not say so: %v", err)
}

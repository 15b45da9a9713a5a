package checkpoint_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Init, in a transaction of its own, whose context ends while a statement
// of its waits (here for a lock another session holds on the checkpoint)
// reports that end: errors.Is finds context.DeadlineExceeded, not only
// lib/pq's "canceling statement due to user request", so that a caller
// under a deadline can tell it from a database fault.
func TestRV94InitEndedMidStatementReportsTheContext(t *testing.T) {
	db, s := setup(t)
	lock, err := db.Beginx()
	require.NoError(t, err)
	defer lock.Rollback()
	_, err = lock.Exec(`LOCK TABLE ck.checkpoint IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = s.Init(ctx, db, 0, "treasury::1")
	require.Error(t, err)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "Init's context ended mid-statement, but its error does not say so: %v", err)
}

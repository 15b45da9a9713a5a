package tokenstd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// RenumberAfterRestore whose context ends while a statement of its waits
// (here for a lock another session holds on the history table) reports
// that end: errors.Is finds context.DeadlineExceeded, not only lib/pq's
// "canceling statement due to user request", so that a restore script run
// under a deadline can tell it from a database fault.
func TestRV94RenumberEndedMidStatementReportsTheContext(t *testing.T) {
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(context.Background(), db))
	lock, err := db.Beginx()
	require.NoError(t, err)
	defer lock.Rollback()
	_, err = lock.Exec(`LOCK TABLE ` + schema.Qualify(schema.DefaultName, tokenstd.HistoryTable) + ` IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = tokenstd.RenumberAfterRestore(ctx, db, schema.DefaultName)
	require.Error(t, err)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "the renumbering's context ended mid-statement, but its error does not say so: %v", err)
}

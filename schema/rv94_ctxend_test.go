package schema_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// Migrate with migrations to apply (here a rollback's, down one version)
// waits for the transactions holding the schema's version (CheckCurrentTx:
// an ingestion batch, a withdrawal submission). A deploy step running it
// under a deadline that passes meanwhile must be told so:
// errors.Is finds context.DeadlineExceeded, not only lib/pq's "canceling
// statement due to user request" for the cancelled lock's wait, which
// reads as a database fault.
func TestRV94MigrateEndedMidStatementReportsTheContext(t *testing.T) {
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(context.Background(), db))

	holder, err := db.Beginx() // a batch in flight
	require.NoError(t, err)
	defer holder.Rollback()
	require.NoError(t, schema.CheckCurrentTx(context.Background(), holder))

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = schema.Migrate(ctx, db, schema.WithTargetVersion(schema.Latest()-1))
	require.Error(t, err)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "Migrate's context ended mid-statement, but its error does not say so: %v", err)
}

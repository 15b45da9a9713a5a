package recovery_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
)

// ErrNothingIngested's error gives the statements to run next. For a
// schema named by a reserved word, which ValidateName accepts, they must
// run as given: the operator pastes them into psql.
func TestNothingIngestedStatementsRunForAReservedSchemaName(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	const name = "order"
	require.NoError(t, schema.ValidateName(name))
	require.NoError(t, schema.Migrate(ctx, b.db, schema.WithSchema(name)))
	cps, err := checkpoint.NewStore(name)
	require.NoError(t, err)
	_, err = cps.Init(ctx, b.db, 7, treasury)
	require.NoError(t, err)

	opts := options(recovery.ModeNonUnique)
	opts.Schema = name
	_, err = recovery.Plan(ctx, b.db, b.client, opts)
	require.ErrorIs(t, err, recovery.ErrNothingIngested)

	m := regexp.MustCompile(`\((UPDATE [^;]+; DELETE FROM [^;]+);`).FindStringSubmatch(err.Error())
	require.NotNil(t, m, "the error names the statements to run: %v", err)
	_, err = b.db.ExecContext(ctx, m[1])
	require.NoError(t, err, "the statements the error gives: %s", m[1])
	var offset int64
	require.NoError(t, b.db.GetContext(ctx, &offset, `SELECT ledger_offset FROM "order".checkpoint`))
	require.Zero(t, offset)
}

package tokenstd_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// A negative EntryFilter.Limit is a caller's bug (a page size computed
// wrong), not "no limit": ListEntries refuses it rather than read the
// whole history.
func TestListEntriesRefusesNegativeLimit(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(ctx, db))
	_, err := tokenstd.ListEntries(ctx, db, schema.DefaultName, tokenstd.EntryFilter{Limit: -1})
	require.ErrorContains(t, err, "negative limit -1")
	_, err = tokenstd.ListEntries(ctx, db, schema.DefaultName, tokenstd.EntryFilter{Limit: 0})
	require.NoError(t, err)
}

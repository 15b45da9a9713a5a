package withdrawal_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// Config.Synchronizer naming a synchronizer with no record time ingested (a
// wrong id, or one the treasury has not used yet) stops expiry and keeps the
// restore gate closed for good, exactly as a wrong id in
// Config.Synchronizers does; the store must say so, naming it, as it does
// for Config.Synchronizers (TestUnknownClockIsLogged). It says nothing.
func TestUnknownSynchronizerClockIsLogged(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(ctx, db))
	var logs bytes.Buffer
	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refunder,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Synchronizer: "typo::1220"})
	require.NoError(t, err)
	times := map[string]time.Time{ledgertest.DefaultSynchronizer: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	_, err = store.ExpireDue(ctx, times)
	require.NoError(t, err)
	require.Contains(t, logs.String(), "typo::1220", "no warning that nothing expires: the clock's synchronizer has no record time")
}

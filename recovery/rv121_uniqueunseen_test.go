package recovery_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// In ModeUnique the read for a synchronizer the Integration DB never saw
// can put offRecovery below the last ingested transaction, whose dedup row
// is gone: Plan refuses (ErrDedupMissing), and its error must name what
// lowered offRecovery, the treasury's transaction on that synchronizer, not
// "another synchronizer's look-up", which the operator would look for in
// vain among the rewind's look-ups.
func TestUniqueLoweredByAnUnseenSynchronizerNamesIt(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	_, err := b.p.Append(txOn(1, ledgertest.DefaultSynchronizer), txOn(2, ledgertest.DefaultSynchronizer))
	require.NoError(t, err)
	backup := b.p.Backup()
	_, err = b.p.Append(txOn(3, ledgertest.DefaultSynchronizer), txOn(4, ledgertest.DefaultSynchronizer))
	require.NoError(t, err)
	ingestTo(t, b, b.p.LedgerEnd())
	_, err = b.p.Append(txOn(5, thirdSynchronizer)) // a deposit, after ingestion stopped
	require.NoError(t, err)
	b.p.Restore(backup, ledgertest.WithSynchronizersFirst(thirdSynchronizer))
	_, err = b.db.Exec(`DELETE FROM txhistory.ingested_update WHERE update_id = 'tx-00004'`)
	require.NoError(t, err)

	_, err = recovery.Plan(ctx, b.db, b.client, options(recovery.ModeUnique))
	require.ErrorIs(t, err, recovery.ErrDedupMissing)
	require.NotContains(t, err.Error(), "another synchronizer's look-up")
	require.Contains(t, err.Error(), thirdSynchronizer)
}

package recovery_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// The treasury's first transaction on a second synchronizer is the
// checkpoint: after a node restore the look-up there as of tRecovery − 1µs
// finds nothing, and Plan puts offRecovery just below where the participant
// now has the first transaction ingested at tRecovery there (e7cbdef). The
// operator's summary (String), the runbook's narration and Apply's audit row
// must say so: they showed the failed look-up and then "offRecovery N (as
// of tRecovery − 1µs)", an offset no answer they list gave.
func TestRV114OffRecoveryBelowTheFirstAtTRecoverySaysSo(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	_, err := b.p.Append(txAt(1, ledgertest.DefaultSynchronizer, 1), txAt(2, ledgertest.DefaultSynchronizer, 2))
	require.NoError(t, err)
	backup := b.p.Backup()
	_, err = b.p.Append(txAt(3, ledgertest.DefaultSynchronizer, 3), txAt(4, otherSynchronizer, 5))
	require.NoError(t, err)
	ingestTo(t, b, b.p.LedgerEnd())
	b.p.Restore(backup)

	var narration strings.Builder
	rw, err := (&recovery.Runbook{DB: b.db, Participant: b.client, Options: options(recovery.ModeNonUnique), Apply: true, Out: &narration}).Run(ctx)
	require.NoError(t, err, narration.String())
	require.Equal(t, offsetOf(t, b.p, "tx-00004")-1, rw.To, "%s", rw)

	store, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	recs, err := store.Rewinds(ctx, b.db)
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	note := recs[len(recs)-1].Note

	below := fmt.Sprintf("just below offset %d, where the participant now has the first transaction ingested at tRecovery on synchronizer %s", rw.To+1, otherSynchronizer)
	require.Contains(t, rw.String(), below, "String")
	require.Contains(t, narration.String(), below, "narration")
	require.Contains(t, note, below, "audit row")
}

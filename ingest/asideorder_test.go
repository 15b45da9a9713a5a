package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// SetAsideTransactions lists the transactions in the order they were set
// aside, also after a validator node restore, whose participant numbers the
// transactions it delivers anew from lower offsets than some set aside
// before: the operator working through them oldest first takes the older
// first.
func TestSetAsideOldestFirstAfterANodeRestore(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 20)
	txs := treasuryTxs(b.p)
	rejected := txs[len(txs)/2].UpdateID

	// Set aside an hour ago at offset 1000 of the participant before its
	// restore; the restored participant's offsets are all below it.
	before := time.Now().Add(-time.Hour)
	_, err := b.db.Exec(`INSERT INTO txhistory.review_transaction (update_id, ledger_offset, record_time, error, set_aside_at)
		VALUES ('before-the-restore', 1000, $1, 'an earlier poison', $1)`, before)
	require.NoError(t, err)
	require.Less(t, b.p.LedgerEnd(), int64(1000))

	ing := newIngester(t, b, ingest.Config{Handler: rejecting(rejected, cannotApply), Poison: ingest.PoisonSetAside, EndOffset: b.p.LedgerEnd()})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, ing.Run(ctx))

	aside, err := ing.SetAsideTransactions(context.Background())
	require.NoError(t, err)
	var ids []string
	for _, a := range aside {
		ids = append(ids, a.UpdateID)
	}
	require.Equal(t, []string{"before-the-restore", rejected}, ids, "oldest first: the one set aside before the restore, then today's")
}

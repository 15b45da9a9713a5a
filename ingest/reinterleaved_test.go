package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// A participant restored from a backup (no runbook) that sequences the
// synchronizers' transactions again in another interleaving, and happens to
// put the last ingested transaction at the same offset: verifyPosition
// passes. Transactions of synchronizer B ingested before now come after the
// checkpoint with record times behind B's ingested one, and m (synchronizer
// C) lies below the checkpoint. Outside a replay after a rewind those are a
// restore, dedup or not: Run stops rather than skip m.
func TestReinterleavedRestoreIsNotSilentlySkipped(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(id, sync string, n int, rt time.Time) *ledger.Transaction {
		tx := simpleTx(treasury, n)
		tx.UpdateID, tx.SynchronizerID, tx.RecordTime = id, sync, rt
		return tx
	}
	a1 := func() *ledger.Transaction { return mk("a1", "A", 1, t0.Add(10*time.Second)) }
	k := func() *ledger.Transaction { return mk("k", "B", 2, t0.Add(5*time.Second)) }
	b2 := func() *ledger.Transaction { return mk("b2", "B", 3, t0.Add(8*time.Second)) }
	l := func() *ledger.Transaction { return mk("l", "A", 4, t0.Add(20*time.Second)) }
	m := func() *ledger.Transaction { return mk("m", "C", 5, t0.Add(7*time.Second)) }

	// Before the restore: a1@1 k@2 b2@3 l@4 m@5; ingested up to l.
	b := setup(t)
	_, err := b.p.Append(a1(), k(), b2(), l(), m())
	require.NoError(t, err)
	runToEndAt(t, b, 4)
	require.EqualValues(t, 4, readState(t, b.db).Checkpoint.Offset)

	// The restored participant: a1@1 m@2 (time advance @3) l@4 k@5 b2@6.
	p2, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p2.Close)
	_, err = p2.Append(a1(), m())
	require.NoError(t, err)
	p2.AdvanceTime("A", t0.Add(15*time.Second))
	out, err := p2.Append(l(), k(), b2())
	require.NoError(t, err)
	require.EqualValues(t, 4, out[0].Offset, "l at the offset it was ingested at")

	b2nd := &testBundle{p: p2, db: b.db, dsn: b.dsn, client: dial(t, p2.Addr(), nil)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runErr := newIngester(t, b2nd, ingest.Config{EndOffset: p2.LedgerEnd()}).Run(ctx)
	require.ErrorIs(t, runErr, ingest.ErrParticipantRestored)
	require.ErrorContains(t, runErr, "update k")
	var ingestedM int
	require.NoError(t, b.db.Get(&ingestedM, `SELECT count(*) FROM txhistory.ingested_update WHERE update_id = 'm'`))
	require.Zero(t, ingestedM)
	require.EqualValues(t, 4, readState(t, b.db).Checkpoint.Offset, "nothing moved")
}

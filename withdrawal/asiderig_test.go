package withdrawal_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// untilInOneBatch runs once, each time on a database of its own, until it
// reports that the ingester put what describes (the transactions the
// scenario needs together) in one batch: the ingester cuts a batch
// wherever the stream runs dry for a moment. It fails the test if ten
// attempts never did, since nothing was tested then.
func untilInOneBatch(t *testing.T, what string, once func(t *testing.T) bool) {
	t.Helper()
	for attempt := 1; attempt <= 10; attempt++ {
		if once(t) {
			return
		}
		t.Logf("attempt %d: %s came in two batches; again", attempt, what)
	}
	t.Fatalf("%s never came in one batch: nothing was tested", what)
}

// requestedThenStopped starts a live rig on a database of its own with a
// holding of 100 minted, creates the withdrawal id of 50 from it once
// ingestion has caught up, and stops the ingester: what the scenario
// appends next is ingested by runSetAside alone.
func requestedThenStopped(t *testing.T, id string) (*live, *withdrawal.Withdrawal, []string) {
	t.Helper()
	l := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{})
	cids := l.mintAndCatchUp("100")
	w, err := l.store.Create(l.ctx, l.request(id, "50", cids[0]))
	require.NoError(t, err)
	l.stopIngester()
	return l, w, cids
}

// runSetAside ingests l's ledger to its end under PoisonSetAside, with the
// History and the Reconciler and then extra as the Handlers, in batches of
// up to 64 transactions.
func runSetAside(t *testing.T, l *live, extra ingest.Handler) *ingest.Ingester {
	t.Helper()
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog})
	require.NoError(t, err)
	rec, err := withdrawal.NewReconciler(l.store, withdrawal.ReconcilerConfig{History: history})
	require.NoError(t, err)
	ing, err := ingest.New(l.db, l.client, ingest.Config{Parties: []string{treasury},
		Handler: ingest.Handlers(history, rec, extra), Logger: quietLog, Poison: ingest.PoisonSetAside,
		MaxBatchSize: 64, MaxBatchDelay: 2 * time.Second, EndOffset: l.p.LedgerEnd()})
	require.NoError(t, err)
	require.NoError(t, ing.Run(l.ctx))
	return ing
}

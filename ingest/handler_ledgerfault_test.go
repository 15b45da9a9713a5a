package ingest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// A Handler that calls a participant (to submit a command, to look up a
// contract) and finds it unavailable returns a retryable ledger error: a
// transient fault like a database's, under either poison policy. Under
// PoisonSetAside the transaction was set aside (its update id counted as
// ingested, its effects never applied) on a participant's brief outage.
func TestHandlerLedgerFaultIsRetriedNotSetAside(t *testing.T) {
	forEachPoisonPolicy(t, func(t *testing.T, policy ingest.PoisonPolicy) {
		b := setup(t)
		appendN(t, b.p, 0, 40)
		bad := treasuryTxs(b.p)[25]
		other, err := ledgertest.New()
		require.NoError(t, err)
		t.Cleanup(other.Close)
		oc := dial(t, other.Addr(), nil)
		other.FailNext("GetLedgerEnd", 3, codes.Unavailable)
		h := rejecting(bad.UpdateID, func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch, t *ledger.Transaction) error {
			if _, err := oc.LedgerEnd(ctx); err != nil {
				return fmt.Errorf("submitting the command for %s: %w", t.UpdateID, err)
			}
			return effectsHandler(ctx, tx, batch)
		})
		runToEnd(t, b, ingest.Config{Handler: h, MaxBatchSize: 10, Poison: policy})
		requireAllOnce(t, b)
		var aside int
		require.NoError(t, b.db.Get(&aside, `SELECT count(*) FROM txhistory.review_transaction`))
		require.Zero(t, aside, "nothing set aside")
		require.GreaterOrEqual(t, other.Calls("GetLedgerEnd"), 4, "the faults were met and the call made again")
	})
}

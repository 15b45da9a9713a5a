package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A Handler that reads from a participant of its own (a second one hosting
// the treasury, still catching up) meets OUT_OF_RANGE
// OFFSET_AFTER_LEDGER_END there: a retryable ledger error, a fault retried
// like a database's. The Ingester's own checkpoint is not beyond its
// participant's ledger end: it must not take the Handler's error for its
// stream's and report its participant restored from a backup.
func TestHandlersOffsetAfterLedgerEndIsNoRestore(t *testing.T) {
	forEachPoisonPolicy(t, func(t *testing.T, policy ingest.PoisonPolicy) {
		b := setup(t)
		appendN(t, b.p, 0, 40)
		bad := treasuryTxs(b.p)[25]
		other, err := ledgertest.New()
		require.NoError(t, err)
		t.Cleanup(other.Close)
		oc := dial(t, other.Addr(), nil)
		var once sync.Once
		failures := 0
		h := rejecting(bad.UpdateID, func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch, u *ledger.Transaction) error {
			if err := drain(ctx, oc, 2, 3); err != nil {
				failures++
				if failures == 3 {
					// The other participant catches up meanwhile.
					once.Do(func() { appendN(t, other, 0, 5) })
				}
				return fmt.Errorf("reading the other participant for %s: %w", u.UpdateID, err)
			}
			return effectsHandler(ctx, tx, batch)
		})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		err = newIngester(t, b, ingest.Config{Handler: h, MaxBatchSize: 10, Poison: policy, EndOffset: b.p.LedgerEnd()}).Run(ctx)
		require.False(t, errors.Is(err, ingest.ErrParticipantRestored), "the Handler's error taken for a restored participant: %v", err)
		require.NoError(t, err)
		require.Equal(t, 3, failures, "the Handler met the other participant's ledger end three times")
		requireAllOnce(t, b)
	})
}

// drain reads the updates of a bounded stream (begin, end] of c.
func drain(ctx context.Context, c *ledger.Client, begin, end int64) error {
	s, err := c.Updates(ctx, ledger.UpdatesRequest{BeginExclusive: begin, EndInclusive: end, Filter: ledger.Filter{Parties: []string{treasury}}})
	if err != nil {
		return err
	}
	defer s.Close()
	for {
		if _, err := s.Recv(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

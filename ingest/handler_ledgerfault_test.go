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
	"google.golang.org/grpc/codes"
)

// A Handler that calls a participant (to submit a command, to look up a
// contract) and finds it unavailable returns a retryable ledger error: a
// transient fault like a database's, under either poison policy. Under
// PoisonSetAside the transaction was set aside (its update id counted as
// ingested, its effects never applied) on a participant's brief outage.
func TestHandlerLedgerFaultIsRetriedNotSetAside(t *testing.T) {
	forEachPoisonPolicy(t, func(t *testing.T, policy ingest.PoisonPolicy) {
		other := newOtherParticipant(t)
		other.p.FailNext("GetLedgerEnd", 3, codes.Unavailable)
		b, st, err := runCallingOther(t, policy, func(ctx context.Context) error {
			_, err := other.c.LedgerEnd(ctx)
			return err
		})
		require.NoError(t, err)
		require.Zero(t, st.Errors["handler"], "a fault retried is not a handler error (the alerts ticket those): %v", st.Errors)
		require.Positive(t, st.Errors["stream"], "%v", st.Errors)
		requireAllOnce(t, b)
		var aside int
		require.NoError(t, b.db.Get(&aside, `SELECT count(*) FROM txhistory.review_transaction`))
		require.Zero(t, aside, "nothing set aside")
		require.GreaterOrEqual(t, other.p.Calls("GetLedgerEnd"), 4, "the faults were met and the call made again")
	})
}

// A Handler that reads from a participant of its own (a second one hosting
// the treasury, still catching up) meets OUT_OF_RANGE
// OFFSET_AFTER_LEDGER_END there: a retryable ledger error, a fault retried
// like a database's. The Ingester's own checkpoint is not beyond its
// participant's ledger end: it must not take the Handler's error for its
// stream's and report its participant restored from a backup.
func TestHandlersOffsetAfterLedgerEndIsNoRestore(t *testing.T) {
	forEachPoisonPolicy(t, func(t *testing.T, policy ingest.PoisonPolicy) {
		other := newOtherParticipant(t)
		var once sync.Once
		failures := 0
		b, _, err := runCallingOther(t, policy, func(ctx context.Context) error {
			err := drain(ctx, other.c, 2, 3)
			if err != nil {
				if failures++; failures == 3 {
					// The other participant catches up meanwhile.
					once.Do(func() { appendN(t, other.p, 0, 5) })
				}
			}
			return err
		})
		require.False(t, errors.Is(err, ingest.ErrParticipantRestored), "the Handler's error taken for a restored participant: %v", err)
		require.NoError(t, err)
		require.Equal(t, 3, failures, "the Handler met the other participant's ledger end three times")
		requireAllOnce(t, b)
	})
}

// otherParticipant is a second fake participant a Handler calls, and a
// client of it.
type otherParticipant struct {
	p *ledgertest.Participant
	c *ledger.Client
}

func newOtherParticipant(t *testing.T) otherParticipant {
	t.Helper()
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return otherParticipant{p: p, c: dial(t, p.Addr(), nil)}
}

// runCallingOther ingests 40 transactions (of setup and appendN) under
// policy with a Handler that, for the batch holding the 26th treasury
// transaction, calls call first and returns its error, wrapped, naming the
// transaction. It returns the bundle, the Ingester's Stats and Run's error.
func runCallingOther(t *testing.T, policy ingest.PoisonPolicy, call func(ctx context.Context) error) (*testBundle, ingest.Stats, error) {
	t.Helper()
	b := setup(t)
	appendN(t, b.p, 0, 40)
	bad := treasuryTxs(b.p)[25]
	h := rejecting(bad.UpdateID, func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch, u *ledger.Transaction) error {
		if err := call(ctx); err != nil {
			return fmt.Errorf("calling the other participant for %s: %w", u.UpdateID, err)
		}
		return effectsHandler(ctx, tx, batch)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ing := newIngester(t, b, ingest.Config{Handler: h, MaxBatchSize: 10, Poison: policy, EndOffset: b.p.LedgerEnd()})
	err := ing.Run(ctx)
	return b, ing.Stats(), err
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

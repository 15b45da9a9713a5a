package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// wentBack is the participant restored from a backup whose ledger end is
// back at 1, and which does not answer the look-up of the last ingested
// transaction.
type wentBack struct {
	*ledger.Client
	asked chan struct{}
}

func (w wentBack) LedgerEnd(context.Context) (int64, error) { return 1, nil }

func (w wentBack) UpdateByID(ctx context.Context, _ string, _ ledger.Filter) (*ledger.Transaction, error) {
	select {
	case w.asked <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestRV36StopEndsTheLookUpOfARestoredParticipant: with the checkpoint
// beyond the ledger end, Run looks up the last ingested transaction, only
// to word its ErrParticipantRestored. A participant that does not answer
// held Run there after Stop until its context ended (ingestd's graceful
// shutdown timing out, exit 1), as Stop held the session's own look-ups
// before they were cut short: Run must return promptly after Stop, with
// the verdict it has (ErrParticipantRestored), not its context's error.
func TestRV36StopEndsTheLookUpOfARestoredParticipant(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 10)
	end := b.p.LedgerEnd()
	runToEndAt(t, b, end)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src := wentBack{Client: b.client, asked: make(chan struct{}, 1)}
	ing, err := ingest.New(b.db, src, ingest.Config{Parties: []string{treasury}, Handler: effectsHandler, Logger: quietLog,
		EndOffset: end + 5, LedgerEndPoll: 5 * time.Millisecond})
	require.NoError(t, err)
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(rctx) }()
	select {
	case <-src.asked:
	case err := <-done:
		t.Fatalf("Run returned %v before it looked up the last ingested transaction", err)
	}
	ing.Stop()
	began := time.Now()
	err = <-done
	took := time.Since(began)
	require.Less(t, took, 2*time.Second, "Run held on after Stop until its context ended (%s), returning %v", took, err)
	require.ErrorIs(t, err, ingest.ErrParticipantRestored)
}

package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// stopOnAnswer is the participant's client whose answer to the look-up of
// the last ingested transaction arrives together with a Stop (SIGTERM at
// that moment).
type stopOnAnswer struct {
	*ledger.Client
	stop func()
}

func (s stopOnAnswer) UpdateByID(ctx context.Context, updateID string, f ledger.Filter) (*ledger.Transaction, error) {
	tx, err := s.Client.UpdateByID(ctx, updateID, f)
	s.stop()
	<-ctx.Done() // the Stop has cut the call short, its answer in hand
	return tx, err
}

// TestRV36StopDoesNotHideARestoredParticipant: Stop cuts short the calls a
// session makes before its stream opens; a call cut short fails, and Run
// returns nil for it. But an answer the participant gave (its last
// ingested transaction at another offset: restored from a backup) is no
// call cut short: Run must return ErrParticipantRestored, as it does
// without the Stop, not nil (ingestd exiting 0, the Stop re-armed as
// honoured) because a Stop came while the answer was on its way.
func TestRV36StopDoesNotHideARestoredParticipant(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 10)
	backup := b.p.Backup()
	appendN(t, b.p, 10, 10)
	runToEndAt(t, b, b.p.LedgerEnd())
	b.p.Restore(backup) // the last ingested transaction under another offset

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ing *ingest.Ingester
	src := stopOnAnswer{Client: b.client, stop: func() { ing.Stop() }}
	ing, err := ingest.New(b.db, src, ingest.Config{Parties: []string{treasury}, Handler: effectsHandler, Logger: quietLog})
	require.NoError(t, err)
	err = ing.Run(ctx)
	require.ErrorIs(t, err, ingest.ErrParticipantRestored, "Run returned %v for a restored participant's answer that came with a Stop", err)
}

// stopBeforeAsking is the client whose look-up a Stop cuts short: it asks
// once the Stop has cancelled the call's context.
type stopBeforeAsking struct {
	*ledger.Client
	stop func()
}

func (s stopBeforeAsking) UpdateByID(ctx context.Context, updateID string, f ledger.Filter) (*ledger.Transaction, error) {
	s.stop()
	<-ctx.Done()
	return s.Client.UpdateByID(ctx, updateID, f)
}

// TestRV36StopCutsShortALookUpOfTheRealClient: the other side of
// TestRV36StopDoesNotHideARestoredParticipant, with the gRPC client's own
// error for a call cut short: Run returns nil.
func TestRV36StopCutsShortALookUpOfTheRealClient(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 10)
	runToEndAt(t, b, b.p.LedgerEnd())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ing *ingest.Ingester
	src := stopBeforeAsking{Client: b.client, stop: func() { ing.Stop() }}
	ing, err := ingest.New(b.db, src, ingest.Config{Parties: []string{treasury}, Handler: effectsHandler, Logger: quietLog})
	require.NoError(t, err)
	require.NoError(t, ing.Run(ctx), "Run after a Stop that cut short its look-up of the last ingested transaction")
	require.Empty(t, ing.Stats().Errors, "a call the Stop cut short is no fault of the participant")
}

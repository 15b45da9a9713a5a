package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// txAndCheckpointHandler writes the effects of transactions (effects) and
// of checkpoints (cp_effects, one row per synchronizer time).
func txAndCheckpointHandler() ingest.Handler {
	cps := cpEffectsHandler(nil)
	return ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
		if err := effectsHandler(ctx, tx, b); err != nil {
			return err
		}
		return cps.HandleBatch(ctx, tx, b)
	})
}

// Like Canton, the fake participant sends an idle tailing stream an
// OffsetCheckpoint that repeats the offset of the last transaction, with
// that transaction's record time: the batch it makes neither moves the
// offset nor raises a record time. If the COMMIT of that batch reaches
// PostgreSQL but its reply is lost, the retry cannot recognise its own
// commit (committedBefore gives up on a batch that changes no record time)
// and commits the batch a second time: the Handler's effects for the
// checkpoint are written twice, which TestLostReplyOnCheckpointBatchAtSameOffset
// rules out for a checkpoint that raises the record time.
func TestLostReplyOnRepeatedCheckpoint(t *testing.T) {
	b := setup(t, ledgertest.WithCheckpointInterval(200*time.Millisecond))
	_, err := b.db.Exec(`CREATE TABLE cp_effects (from_offset bigint, to_offset bigint, record_time timestamptz)`)
	require.NoError(t, err)
	appendN(t, b.p, 0, 3)

	lr := &lostReply{}
	faulty := withFaults(t, b, &faultConnector{afterCommit: lr.afterCommit})
	cfg := ingest.Config{Handler: txAndCheckpointHandler(), MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The transactions commit at once, in a Run that ends at them (an
	// Ingester up to EndOffset); the checkpoint repeating their offset
	// comes once the next Run's stream idled for the interval: its
	// COMMIT's reply is lost. In one Run, the test's goroutine, on a loaded
	// machine, could see the transactions committed only after the
	// checkpoint came (Checkpoints 1 below: 1 of 8 runs under two busy
	// loops and -race).
	first := cfg
	first.EndOffset = b.p.LedgerEnd()
	ing := newIngester(t, faulty, first)
	require.NoError(t, ing.Run(ctx))
	require.Eventually(t, func() bool { s := ing.Stats(); return s.Transactions == 3 && s.Offset == b.p.LedgerEnd() }, 10*time.Second, time.Millisecond)
	require.Zero(t, ing.Stats().Checkpoints, "the checkpoint came before the transactions' batch committed")
	lr.loseNth(1)
	ing = newIngester(t, faulty, cfg)
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Checkpoints >= 1 }, 10*time.Second, 5*time.Millisecond, "no checkpoint repeating the offset")
	time.Sleep(300 * time.Millisecond)
	ing.Stop()
	require.NoError(t, <-done)
	requireEffectsOnce(t, b)
	var n int
	require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM cp_effects`))
	require.LessOrEqual(t, n, 1, "the checkpoint repeating the offset was applied twice")
}

// An idle tailing stream gets a checkpoint repeating the offset it is at
// (begin_exclusive, or the last transaction's), with the record times
// already ingested. Such a batch changes nothing, yet it was committed: an
// SQL transaction (the Handler, the checkpoint row rewritten) per
// transaction on a quiet ledger, and with StallTimeout one per reconnect,
// for as long as the ledger stays quiet, since every new stream opens at a
// quiet ledger end and gets the checkpoint again.
func TestRepeatedCheckpointCommitsNothing(t *testing.T) {
	b := setup(t, ledgertest.WithCheckpointInterval(50*time.Millisecond))
	appendN(t, b.p, 0, 3)
	ing := newIngester(t, b, ingest.Config{StallTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { s := ing.Stats(); return s.Transactions == 3 && s.Offset == b.p.LedgerEnd() }, 10*time.Second, time.Millisecond)
	st := ing.Stats()
	updated := readUpdatedAt(t, b.db)

	// Quiet: several checkpoint intervals, and reconnects (StallTimeout).
	require.Eventually(t, func() bool { return ing.Stats().Checkpoints >= 3 }, 10*time.Second, 5*time.Millisecond,
		"no checkpoints repeating the offset")
	got := ing.Stats()
	ing.Stop()
	require.NoError(t, <-done)
	require.Equal(t, st.Offset, got.Offset)
	require.Equal(t, st.Batches, got.Batches, "batches committed for checkpoints that changed nothing (%d checkpoints)", got.Checkpoints)
	require.Equal(t, updated, readUpdatedAt(t, b.db), "the checkpoint row was rewritten")
	requireAllOnce(t, b)
}

func readUpdatedAt(t *testing.T, db *sqlx.DB) time.Time {
	t.Helper()
	var at time.Time
	require.NoError(t, db.Get(&at, `SELECT updated_at FROM txhistory.checkpoint WHERE id = 1`))
	return at
}

// A quiet ledger with StallTimeout: every stream stalls after the
// checkpoint repeating its offset, and Run reconnects. That checkpoint
// shows the participant answers: the reconnects are not failures that
// MaxAttempts gives up after, though the checkpoint is not committed.
func TestQuietLedgerStallsDoNotExhaustMaxAttempts(t *testing.T) {
	b := setup(t, ledgertest.WithCheckpointInterval(20*time.Millisecond))
	appendN(t, b.p, 0, 3)
	ing := newIngester(t, b, ingest.Config{StallTimeout: 100 * time.Millisecond, MaxAttempts: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { s := ing.Stats(); return s.Transactions == 3 && s.Offset == b.p.LedgerEnd() }, 10*time.Second, time.Millisecond)
	caughtUp := ing.Stats()
	deadline := time.After(10 * time.Second)
	for ing.Stats().Errors["stream"] < caughtUp.Errors["stream"]+4 {
		select {
		case err := <-done:
			t.Fatalf("Run gave up on a quiet ledger: %v", err)
		case <-deadline:
			t.Fatal("the streams did not stall")
		case <-time.After(5 * time.Millisecond):
		}
	}
	ing.Stop()
	require.NoError(t, <-done)
	require.Equal(t, caughtUp.Batches, ing.Stats().Batches, "a quiet ledger's checkpoints committed batches")
}

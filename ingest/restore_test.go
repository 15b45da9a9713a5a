package ingest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// Restarting ingestion after the validator node was restored from a
// backup, without running the restore runbook: whatever state the restored
// participant is in, Run stops with ErrParticipantRestored and the database
// is exactly as before. Nothing is skipped silently, nothing applied twice.
func TestRestartAfterRestoreWithoutRunbookStops(t *testing.T) {
	type scenario struct {
		name    string
		opts    []ledgertest.Option
		restore func(p *ledgertest.Participant, backup ledgertest.Snapshot)
		reason  string // what RestoredError says
	}
	scenarios := []scenario{{
		// New offsets above the old ones: the participant has the last
		// ingested transaction at another offset (and resuming from the old
		// checkpoint would read recovered transactions whose record time is
		// behind: see TestRecordTimeBackwardsStops).
		name:    "recovered under higher offsets",
		restore: func(p *ledgertest.Participant, s ledgertest.Snapshot) { p.Restore(s) },
		reason:  "now has it at offset",
	}, {
		// Nothing recovered yet: the checkpoint is beyond the ledger end and
		// the participant does not know the last ingested transaction.
		name:    "still catching up",
		restore: func(p *ledgertest.Participant, s ledgertest.Snapshot) { p.Restore(s, ledgertest.WithCatchUp(true)) },
		reason:  "does not know the last ingested transaction",
	}, {
		name: "partly caught up",
		restore: func(p *ledgertest.Participant, s ledgertest.Snapshot) {
			p.Restore(s, ledgertest.WithCatchUp(true))
			p.CatchUp(100)
		},
		reason: "does not know the last ingested transaction",
	}, {
		// New offsets below the old ones: the checkpoint is beyond the new
		// ledger end, and the participant has the last ingested transaction
		// at another offset.
		name:    "recovered under lower offsets",
		opts:    []ledgertest.Option{ledgertest.WithOffsetStep(10)},
		restore: func(p *ledgertest.Participant, s ledgertest.Snapshot) { p.Restore(s, ledgertest.WithOffsetShift(-9)) },
		reason:  "now has it at offset",
	}}
	for _, sc := range scenarios {
		for _, tailing := range []bool{false, true} {
			name := sc.name + "/bounded"
			if tailing {
				name = sc.name + "/tailing"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				b := setup(t, sc.opts...)
				appendN(t, b.p, 0, 400)
				backup := b.p.Backup()
				appendN(t, b.p, 400, 600)
				end := b.p.LedgerEnd()
				if sc.opts == nil {
					end = 900 // ingestion stopped at transaction 900 of 1,000
				}
				runToEndAt(t, b, end)
				before := readState(t, b.db)
				sc.restore(b.p, backup)

				cfg := ingest.Config{}
				if !tailing {
					// A bounded catch-up to the ledger end; when that end is now
					// below the checkpoint, Run would have nothing to do, so
					// ask for one offset more.
					cfg.EndOffset = max(b.p.LedgerEnd(), before.Checkpoint.Offset+1)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				err := newIngester(t, b, cfg).Run(ctx)
				require.ErrorIs(t, err, ingest.ErrParticipantRestored)
				var re *ingest.RestoredError
				require.True(t, errors.As(err, &re), "%v", err)
				require.Contains(t, re.Reason, sc.reason)
				require.Contains(t, err.Error(), "run the validator node restore runbook")
				require.Equal(t, before, readState(t, b.db), "the refused restart wrote nothing")
			})
		}
	}
}

// runToEndAt ingests up to offset end.
func runToEndAt(t testing.TB, b *testBundle, end int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, newIngester(t, b, ingest.Config{EndOffset: end}).Run(ctx))
}

// A participant whose ledger end went back below the checkpoint offset,
// which it streamed itself (an OffsetCheckpoint after the last
// transaction), was restored from a backup: resuming from the checkpoint
// would skip in silence whatever the restored node numbers at or below it
// (offsets after the last ingested transaction may change: lost
// participant-local updates renumber those after them). Run stops with
// ErrParticipantRestored, even when the participant still has the last
// ingested transaction where it was ingested (the same offsets so far),
// after a replay, or has pruned it.
func TestLedgerEndBelowTheCheckpointStops(t *testing.T) {
	for name, before := range map[string]func(t *testing.T, b *testBundle, last *ledger.Transaction){
		"same offsets so far": nil,
		// After a runbook's replay the last transaction seen may be one
		// dedup dropped: its dedup row keeps the offset it was first
		// ingested at, before an earlier restore moved it.
		"after a replay": func(t *testing.T, b *testBundle, last *ledger.Transaction) {
			res, err := b.db.Exec(`UPDATE txhistory.ingested_update SET ledger_offset = ledger_offset - 7 WHERE update_id = $1`, last.UpdateID)
			require.NoError(t, err)
			n, err := res.RowsAffected()
			require.NoError(t, err)
			require.EqualValues(t, 1, n)
		},
		"last transaction pruned": nil,
	} {
		t.Run(name, func(t *testing.T) {
			b := setup(t, ledgertest.WithCheckpointInterval(10*time.Millisecond))
			var hook func(last *ledger.Transaction)
			if before != nil {
				hook = func(last *ledger.Transaction) { before(t, b, last) }
			}
			last := restoredBehindCheckpoint(t, b, hook)
			if name == "last transaction pruned" {
				// A restored node keeps its pruning settings.
				require.NoError(t, b.p.Prune(last.Offset))
			}
			state := readState(t, b.db)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := newIngester(t, b, ingest.Config{LedgerEndPoll: 10 * time.Millisecond}).Run(ctx)
			require.ErrorIs(t, err, ingest.ErrParticipantRestored)
			var re *ingest.RestoredError
			require.ErrorAs(t, err, &re)
			require.Contains(t, re.Reason, "ledger end")
			require.Equal(t, state.Checkpoint.Offset, re.Offset)
			require.Equal(t, last.UpdateID, re.UpdateID)
			require.Equal(t, state, readState(t, b.db), "the refused restart wrote nothing")
		})
	}
}

// A bounded run whose EndOffset lies beyond the ledger end waits for the
// ledger to grow; its checkpoint is not beyond the ledger end. A
// participant that pruned the last ingested transaction meanwhile is
// healthy, not restored.
func TestEndOffsetWaitWithPrunedLastTransaction(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 20)
	runToEnd(t, b, ingest.Config{})
	end := b.p.LedgerEnd()
	require.NoError(t, b.p.Prune(end))

	ing, done := waitingBeyondLedgerEnd(t, b, ingest.Config{EndOffset: end + 5, LedgerEndPoll: 10 * time.Millisecond})
	appendN(t, b.p, 20, 5)
	require.NoError(t, <-done)
	require.GreaterOrEqual(t, ing.Stats().Offset, end+5)
	require.GreaterOrEqual(t, readState(t, b.db).Checkpoint.Offset, end+5)
}

// restoredBehindCheckpoint ingests 100 transactions and a time advance
// after them (the checkpoint goes beyond the last transaction), runs before
// (if not nil), and restores the participant from a backup taken after 50,
// with the same offsets, caught up to the last transaction but not the time
// advance: the checkpoint is beyond its ledger end. It returns the last
// transaction.
func restoredBehindCheckpoint(t *testing.T, b *testBundle, before func(last *ledger.Transaction)) *ledger.Transaction {
	t.Helper()
	appendN(t, b.p, 0, 50)
	backup := b.p.Backup()
	appendN(t, b.p, 50, 50)
	last := b.p.Transactions()[len(b.p.Transactions())-1]
	b.p.AdvanceTime("", last.RecordTime.Add(time.Second))
	runToEndAt(t, b, b.p.LedgerEnd())
	require.Greater(t, readState(t, b.db).Checkpoint.Offset, last.Offset)
	if before != nil {
		before(last)
	}
	b.p.Restore(backup, ledgertest.WithOffsetShift(0), ledgertest.WithCatchUp(true))
	b.p.CatchUp(50)
	require.Equal(t, last.Offset, b.p.LedgerEnd())
	return last
}

// waitingBeyondLedgerEnd starts an Ingester with cfg and returns once it
// met the ledger end twice; it fails the test if Run ends before.
func waitingBeyondLedgerEnd(t *testing.T, b *testBundle, cfg ingest.Config) (*ingest.Ingester, <-chan error) {
	t.Helper()
	ing := newIngester(t, b, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	deadline := time.After(10 * time.Second)
	for ing.Stats().Errors["stream"] < 2 {
		select {
		case err := <-done:
			t.Fatalf("Run ended while waiting for the ledger end: %v", err)
		case <-deadline:
			t.Fatal("did not wait for the ledger end")
		case <-time.After(5 * time.Millisecond):
		}
	}
	return ing, done
}

// A RestoredError of a checkpoint that only OffsetCheckpoints moved names
// no update rather than an empty one.
func TestRestoredErrorWithoutUpdate(t *testing.T) {
	err := &ingest.RestoredError{Offset: 40, Reason: "the ledger end went back"}
	require.Equal(t, ingest.ErrParticipantRestored.Error()+": the ledger end went back (offset 40)", err.Error())
	err.UpdateID = "upd-7"
	require.Equal(t, ingest.ErrParticipantRestored.Error()+": the ledger end went back (offset 40, update upd-7)", err.Error())
}

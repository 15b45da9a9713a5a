package recovery_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

var behaviours = []ledgertest.AdminBehaviour{ledgertest.AdminV34, ledgertest.AdminV35}

// offsetOf returns the participant's current offset of an update id.
func offsetOf(t testing.TB, p *ledgertest.Participant, updateID string) int64 {
	t.Helper()
	for _, tx := range p.Transactions() {
		if tx.UpdateID == updateID {
			return tx.Offset
		}
	}
	t.Fatalf("the participant has no update %s", updateID)
	return 0
}

func rewinds(t testing.TB, b *bundle) []checkpoint.RewindRecord {
	t.Helper()
	store, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	recs, err := store.Rewinds(context.Background(), b.db)
	require.NoError(t, err)
	return recs
}

// The acceptance drill with unique record times: back up at transaction 400
// of 1,000, ingest to 900, restore, run the runbook, ingest to the end. The
// database ends as after an undisturbed run, with either admin API and
// either mode.
func TestRunbookUniqueRecordTimes(t *testing.T) {
	steps := script(1000)
	want := reference(t, steps)
	require.Equal(t, 857, len(want.Rows), "1,000 transactions, 143 of another party")

	for _, admin := range behaviours {
		for _, mode := range []recovery.Mode{recovery.ModeUnique, recovery.ModeNonUnique} {
			t.Run(fmt.Sprintf("%s/%s", admin, mode), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				b := newBundle(t, ledgertest.WithAdminBehaviour(admin))
				// Ingestion stopped (step 1) after tx-00900; step 3: restore the node.
				restoredAfter(t, b, steps, 400, "tx-00900")

				// Forgetting the runbook is impossible to miss.
				before := readState(t, b.db)
				require.ErrorIs(t, ingestErr(t, b), ingest.ErrParticipantRestored)
				require.Equal(t, before, readState(t, b.db), "the refused restart wrote nothing")

				// Steps 2 and 5.
				rw, err := recovery.Plan(ctx, b.db, b.client, options(mode))
				require.NoError(t, err)
				require.Equal(t, "tx-00900", rw.LastUpdateID)
				require.Equal(t, int64(900), rw.IngestedOffset)
				require.Equal(t, offsetOf(t, b.p, "tx-00900"), rw.ParticipantOffset)
				require.True(t, rw.Restored())
				if mode == recovery.ModeUnique {
					require.Equal(t, rw.ParticipantOffset, rw.To)
					require.True(t, rw.LookupTime.Equal(rw.RecoveryTime))
				} else {
					// tx-00899 is another party's: the admin API sees it anyway.
					require.Equal(t, offsetOf(t, b.p, "tx-00899"), rw.To)
					require.True(t, rw.LookupTime.Equal(rw.RecoveryTime.Add(-time.Microsecond)))
				}

				// Step 6, with its audit row.
				require.NoError(t, recovery.Apply(ctx, b.db, rw))
				recs := rewinds(t, b)
				require.Len(t, recs, 1)
				require.Equal(t, int64(900), recs[0].From)
				require.Equal(t, rw.To, recs[0].To)
				require.True(t, recs[0].RecoveryTime.Valid && recs[0].RecoveryTime.Time.Equal(rw.RecoveryTime), "tRecovery is audited")
				require.Equal(t, string(mode), recs[0].Mode)
				require.Equal(t, ledgertest.DefaultSynchronizer, recs[0].SynchronizerID)
				require.Contains(t, recs[0].Note, "tx-00900")
				require.WithinDuration(t, time.Now(), recs[0].RewoundAt, time.Minute)

				// Step 7.
				stats := ingestTo(t, b, b.p.LedgerEnd())
				if mode == recovery.ModeNonUnique {
					require.Equal(t, int64(1), stats.Skipped, "tx-00900 is read again and dropped by dedup")
				} else {
					require.Zero(t, stats.Skipped)
				}
				require.Equal(t, want, readHistory(t, b.db), "same update ids, same effects, no duplicate, no gap")
			})
		}
	}
}

// Non-unique record times: tx 39 to 43 share a record time T and ingestion
// stopped after tx 40. The −1µs runbook ends complete without a duplicate;
// the unique runbook refuses.
func TestRunbookNonUniqueRecordTimes(t *testing.T) {
	steps := script(80, 40, 41, 42, 43)
	want := reference(t, steps)

	for _, admin := range behaviours {
		t.Run(admin.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := newBundle(t, ledgertest.WithAdminBehaviour(admin))
			_, txs := restoredAfter(t, b, steps, 20, "tx-00040")
			group := txs[38-20 : 43-20]
			for _, tx := range group {
				require.True(t, tx.RecordTime.Equal(group[0].RecordTime), "five transactions share T")
			}

			_, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeUnique))
			require.ErrorIs(t, err, recovery.ErrRecordTimeNotUnique)
			require.ErrorContains(t, err, "tx-00040")

			rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
			require.NoError(t, err)
			require.Equal(t, offsetOf(t, b.p, "tx-00038"), rw.To, "the highest offset before T")
			require.Empty(t, rw.OtherSynchronizers, "one synchronizer")
			require.NotContains(t, rw.String(), "not rewound")
			require.NoError(t, recovery.Apply(ctx, b.db, rw))

			stats := ingestTo(t, b, b.p.LedgerEnd())
			require.Equal(t, int64(2), stats.Skipped, "tx-00039 and tx-00040 were ingested before")
			require.Equal(t, want, readHistory(t, b.db))
		})
	}
}

// What the unique runbook would get wrong with non-unique record times:
// offRecovery as of T is the offset of the fifth transaction at T, so the
// three after the last ingested one are never ingested.
func TestUniqueRunbookSkipsTransactionsSharingTRecovery(t *testing.T) {
	ctx := context.Background()
	steps := script(80, 40, 41, 42, 43)
	want := reference(t, steps)
	b := newBundle(t)
	restoredAfter(t, b, steps, 20, "tx-00040")

	// The runbook taken literally: offRecovery = find_highest_offset_by_timestamp(T).
	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	literal, err := b.client.HighestOffsetByTimestamp(ctx, rw.SynchronizerID, rw.RecoveryTime, false)
	require.NoError(t, err)
	require.Equal(t, offsetOf(t, b.p, "tx-00043"), literal)
	unique := *rw
	unique.Mode, unique.LookupTime, unique.To = recovery.ModeUnique, rw.RecoveryTime, literal
	require.NoError(t, recovery.Apply(ctx, b.db, &unique))
	ingestTo(t, b, b.p.LedgerEnd())

	got := updateIDs(readHistory(t, b.db).Rows)
	var missing []string
	for _, id := range updateIDs(want.Rows) {
		if !slices.Contains(got, id) {
			missing = append(missing, id)
		}
	}
	require.Equal(t, []string{"tx-00041", "tx-00042", "tx-00043"}, missing)
}

// A participant restored from a backup that is still recovering from the
// synchronizer: Plan waits until it has processed tRecovery, and does not
// take the forced answer it would give meanwhile (its ledger end).
func TestPlanWaitsForCatchUp(t *testing.T) {
	steps := script(300, 152, 153, 154, 155)
	want := reference(t, steps)

	for _, admin := range behaviours {
		t.Run(admin.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := newBundle(t, ledgertest.WithAdminBehaviour(admin))
			backup, _ := restoredAfter(t, b, steps, 100, "tx-00152", ledgertest.WithCatchUp(true))
			tRecovery := readState(t, b.db).Checkpoint.RecordTime

			if admin == ledgertest.AdminV35 {
				// The trap: before catching up, a forced look-up answers the ledger end.
				forced, err := b.client.HighestOffsetByTimestamp(ctx, ledgertest.DefaultSynchronizer, tRecovery.Add(-time.Microsecond), true)
				require.NoError(t, err)
				require.Equal(t, backup.LedgerEnd(), forced)
			}

			o := options(recovery.ModeNonUnique)
			waiting := make(chan struct{})
			var rounds atomic.Int32
			o.Progress = func(p recovery.Progress) {
				if rounds.Add(1) == 1 {
					close(waiting)
				}
				require.Error(t, p.Reason)
			}
			type result struct {
				rw  *recovery.Rewind
				err error
			}
			done := make(chan result, 1)
			go func() {
				rw, err := recovery.Plan(ctx, b.db, b.client, o)
				done <- result{rw, err}
			}()
			<-waiting
			// Recover a few transactions at a time, as a participant catching up does.
			for b.p.Pending() > 0 {
				b.p.CatchUp(3)
				time.Sleep(time.Millisecond)
			}
			res := <-done
			require.NoError(t, res.err)
			rw := res.rw
			require.Greater(t, rw.Waited, time.Duration(0))
			require.Positive(t, rounds.Load())
			want34 := map[ledgertest.AdminBehaviour]recovery.AdminAPI{ledgertest.AdminV34: recovery.Admin34, ledgertest.AdminV35: recovery.Admin35}
			require.Equal(t, want34[admin], rw.AdminAPI, "told from the error ids")
			require.Equal(t, offsetOf(t, b.p, "tx-00150"), rw.To)

			require.NoError(t, recovery.Apply(ctx, b.db, rw))
			ingestTo(t, b, b.p.LedgerEnd())
			require.Equal(t, want, readHistory(t, b.db))
		})
	}
}

// A participant that never catches up: Plan gives up after Options.Timeout
// with the participant's last answer.
func TestPlanTimesOut(t *testing.T) {
	for _, admin := range behaviours {
		t.Run(admin.String(), func(t *testing.T) {
			t.Parallel()
			b := newBundle(t, ledgertest.WithAdminBehaviour(admin))
			steps := script(30)
			backup, _ := restoredAfter(t, b, steps, 10, "", ledgertest.WithCatchUp(true))

			o := options(recovery.ModeNonUnique)
			o.Timeout = 100 * time.Millisecond
			var last recovery.Progress
			o.Progress = func(p recovery.Progress) { last = p }
			_, err := recovery.Plan(context.Background(), b.db, b.client, o)
			require.ErrorIs(t, err, recovery.ErrNotCaughtUp)
			wantErr := map[ledgertest.AdminBehaviour]error{ledgertest.AdminV34: ledger.ErrInvalidTimestamp, ledgertest.AdminV35: ledger.ErrUnprocessedTimestamp}[admin]
			require.ErrorIs(t, err, wantErr)
			require.ErrorIs(t, last.Reason, wantErr)
			require.Equal(t, backup.LedgerEnd(), last.LedgerEnd)
			require.Empty(t, rewinds(t, b))
		})
	}
}

// The participant processed tRecovery but has no transaction at exactly
// that record time: not the history the Integration DB was filled from.
func TestPlanHistoryMismatch(t *testing.T) {
	b := newBundle(t)
	play(t, b.p, script(20))
	ingestTo(t, b, b.p.LedgerEnd()-5)
	_, err := b.db.Exec(`UPDATE txhistory.checkpoint SET record_time = record_time + interval '1 microsecond'`)
	require.NoError(t, err)
	_, err = recovery.Plan(context.Background(), b.db, b.client, options(recovery.ModeUnique))
	require.ErrorIs(t, err, recovery.ErrHistoryMismatch)
	require.ErrorIs(t, err, ledger.ErrNoExactRecordTime)
}

func TestPlanNothingIngested(t *testing.T) {
	b := newBundle(t)
	_, err := recovery.Plan(context.Background(), b.db, b.client, options(recovery.ModeNonUnique))
	require.ErrorIs(t, err, recovery.ErrNothingIngested)

	_, err = recovery.Plan(context.Background(), b.db, b.client, recovery.Options{})
	require.ErrorContains(t, err, "Parties")
	_, err = recovery.Plan(context.Background(), b.db, b.client, recovery.Options{Parties: []string{treasury}, Mode: "sometimes"})
	require.ErrorContains(t, err, "unknown mode")
}

// Step 1: the runbook does not rewrite the checkpoint under a running
// Ingester, and a plan is applied at most once.
func TestApplyRefusesWhileIngestingOrStale(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t, ledgertest.WithCheckpointInterval(10*time.Millisecond))
	steps := script(60)
	restoredAfter(t, b, steps, 20, "")
	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.NoError(t, recovery.CheckStopped(ctx, b.db, ""))

	// An Ingester starts anyway and holds the lock while it runs (its
	// look-up of the last ingested transaction hangs, so it neither ingests
	// nor notices the restore yet).
	b.p.Intercept(ledgertest.MethodGetUpdateByID, func(ctx context.Context, _ proto.Message) error {
		<-ctx.Done()
		return ctx.Err()
	})
	ing := newIngester(t, b, ingest.Config{})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ing.Run(runCtx) }()
	require.Eventually(t, func() bool { return recovery.CheckStopped(ctx, b.db, "") != nil }, 10*time.Second, 5*time.Millisecond)
	require.ErrorIs(t, recovery.CheckStopped(ctx, b.db, ""), recovery.ErrIngestionRunning)
	require.ErrorIs(t, recovery.Apply(ctx, b.db, rw), recovery.ErrIngestionRunning)
	cancel()
	<-done
	b.p.Intercept(ledgertest.MethodGetUpdateByID, nil)
	require.NoError(t, recovery.CheckStopped(ctx, b.db, ""))
	require.Empty(t, rewinds(t, b))

	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	// The checkpoint is no longer where Plan found it: the plan is stale.
	require.ErrorIs(t, recovery.Apply(ctx, b.db, rw), checkpoint.ErrConflict, "applied once only")
	require.Len(t, rewinds(t, b), 1)
}

// The runbook rewinds one synchronizer. The replayed range also holds
// transactions of another synchronizer, ingested before, whose record times
// lie behind the one the Integration DB has for it: dedup drops them, and
// they are not taken for a restore (they were, before dedup ran).
func TestSeveralSynchronizersReplayWithoutDuplicate(t *testing.T) {
	ctx := context.Background()
	const other = otherSynchronizer
	history := twoSynchronizerHistory
	ref := newBundle(t)
	_, err := ref.p.Append(history()...)
	require.NoError(t, err)
	ingestTo(t, ref, ref.p.LedgerEnd())
	want := readHistory(t, ref.db)
	require.Empty(t, want.Duplicates)

	b := newBundle(t)
	txs := history()
	_, err = b.p.Append(txs[:20]...)
	require.NoError(t, err)
	backup := b.p.Backup()
	_, err = b.p.Append(txs[20:]...)
	require.NoError(t, err)
	ingestTo(t, b, offsetOf(t, b.p, "tx-00057"))
	b.p.Restore(backup)

	ingested := readState(t, b.db).Checkpoint.RecordTimes[other]
	require.False(t, ingested.IsZero())
	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.Equal(t, ledgertest.DefaultSynchronizer, rw.SynchronizerID)
	// The synchronizer the runbook does not rewind is named, for an
	// operator to check (see the package's Limits).
	require.Len(t, rw.OtherSynchronizers, 1)
	require.Equal(t, other, rw.OtherSynchronizers[0].SynchronizerID)
	require.True(t, ingested.Equal(rw.OtherSynchronizers[0].RecordTime), "%s, want %s", rw.OtherSynchronizers[0].RecordTime, ingested)
	require.Contains(t, rw.String(), "not rewound: synchronizer "+other+", ingested to record time "+ingested.UTC().Format(time.RFC3339Nano))
	var narration strings.Builder
	_, err = (&recovery.Runbook{DB: b.db, Participant: b.client, Options: options(recovery.ModeNonUnique), Out: &narration}).Run(ctx)
	require.NoError(t, err, narration.String())
	require.Contains(t, narration.String(), "warning: synchronizer "+other+" (ingested to record time "+ingested.UTC().Format(time.RFC3339Nano)+") is looked up, so that offRecovery lies below what came after it, but not rewound")
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	store, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	audit, err := store.Rewinds(ctx, b.db)
	require.NoError(t, err)
	require.Len(t, audit, 1)
	require.Contains(t, audit[0].Note, "not rewound: synchronizers "+other)

	// tx-00054 and tx-00056 are read again, behind the other synchronizer's
	// ingested record time (tx-00056's), and dropped with tx-00053/55/57.
	stats := ingestTo(t, b, b.p.LedgerEnd())
	require.EqualValues(t, 5, stats.Skipped)
	require.Equal(t, want, readHistory(t, b.db), "same update ids, same effects, no duplicate, no gap")
}

// tRecovery is the record time of the first transaction of the
// synchronizer: nothing lies at or before tRecovery − 1µs. Canton 3.4 and
// 3.5 (force or not) then fail the look-up with INVALID_TIMESTAMP;
// ingestion resumes from the start and dedup drops what it had.
func TestNonUniqueModeAtTheFirstTransaction(t *testing.T) {
	steps := script(30, 2)
	want := reference(t, steps)
	for _, admin := range behaviours {
		t.Run(admin.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := newBundle(t, ledgertest.WithAdminBehaviour(admin))
			backup := b.p.Backup() // empty
			play(t, b.p, steps)
			ingestTo(t, b, offsetOf(t, b.p, "tx-00001"))
			b.p.Restore(backup)

			o := options(recovery.ModeNonUnique)
			if admin == ledgertest.AdminV34 {
				o.AdminAPI = recovery.Admin34 // told, not detected: force is never sent
			}
			rw, err := recovery.Plan(ctx, b.db, b.client, o)
			require.NoError(t, err)
			require.Zero(t, rw.To)
			require.Len(t, rw.Lookups, 2)
			require.Equal(t, admin == ledgertest.AdminV35, rw.Lookups[1].Force)
			if admin == ledgertest.AdminV34 {
				require.ErrorIs(t, rw.Lookups[1].Err, ledger.ErrInvalidTimestamp)
			}
			require.NoError(t, recovery.Apply(ctx, b.db, rw))
			stats := ingestTo(t, b, b.p.LedgerEnd())
			require.Equal(t, int64(1), stats.Skipped)
			require.Equal(t, want, readHistory(t, b.db))
		})
	}
}

// The same with the admin API named (Options.AdminAPI = Admin35, or told
// from an UNPROCESSED_REQUESTED_TIMESTAMP while the node caught up): Canton
// 3.5 fails the forced look-up of tRecovery − 1µs, with nothing at or before
// it, with OUT_OF_RANGE INVALID_TIMESTAMP_PARTY_MANAGEMENT_ERROR. That
// means offRecovery 0, as on 3.4; retrying cannot change the answer.
func TestNonUniqueModeAtTheFirstTransactionOn35Named(t *testing.T) {
	steps := script(30, 2)
	ctx := context.Background()
	b := newBundle(t, ledgertest.WithAdminBehaviour(ledgertest.AdminV35))
	backup := b.p.Backup() // empty
	play(t, b.p, steps)
	ingestTo(t, b, offsetOf(t, b.p, "tx-00001"))
	b.p.Restore(backup)

	o := options(recovery.ModeNonUnique)
	o.AdminAPI = recovery.Admin35
	o.Timeout = 2 * time.Second
	rw, err := recovery.Plan(ctx, b.db, b.client, o)
	require.NoError(t, err)
	require.Zero(t, rw.To)
	require.Len(t, rw.Lookups, 2)
	require.True(t, rw.Lookups[1].Force)
}

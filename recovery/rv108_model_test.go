package recovery_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// The model test of the validator node restore runbook: a random history
// on one or two synchronizers, with runs of transactions sharing a record
// time (as after an ACS import), some of another party; ingestion
// sometimes before the node backup, with the node pruned below the
// checkpoint; then one or two rounds of: more transactions, ingestion in
// random steps and batch sizes (so that a run of equal record times is
// split across batches) stopped behind, at or past the backup, dedup
// retention (none, within PruneBefore's rule, or as far as it goes),
// deposits while ingestion is stopped, a restore (of the first backup or
// of one taken after the last rewind; on two synchronizers sometimes
// recovering the other one first), more transactions, Plan in both modes
// and Apply of one Plan allowed. Then ingestion to the end. Every treasury
// update must be applied exactly once (effects and dedup table), or Plan
// or ingestion must refuse with one of the documented errors, having
// applied nothing twice. The documented limits are told apart: a refusal
// is accepted only on two synchronizers, after they were interleaved
// differently or dedup ids were pruned, and a skipped transaction only on
// a synchronizer the Integration DB had no record time for that the
// restored participant recovered first (the recovery package's Limits).
//
// TXHISTORY_RV108_SEEDS=n runs n seeds (default rv108SeedsDefault), from
// TXHISTORY_RV108_SEED (default 1) on; TXHISTORY_RV108_DUMP=1 logs the
// participant's transactions before each restore.
const rv108SeedsDefault = 8

func TestRestoreRunbookModel(t *testing.T) {
	n, first := rv108SeedsDefault, uint64(1)
	if s := os.Getenv("TXHISTORY_RV108_SEEDS"); s != "" {
		v, err := strconv.Atoi(s)
		require.NoError(t, err)
		n = v
	}
	if s := os.Getenv("TXHISTORY_RV108_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		first = v
	}
	for seed := first; seed < first+uint64(n); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runRestoreModel(t, seed) })
	}
}

// restoreModelHistory generates n transactions starting at number from,
// continuing the record times in times (per synchronizer).
func restoreModelHistory(r *rand.Rand, from, n int, syncs []string, times map[string]time.Time) []*ledger.Transaction {
	var out []*ledger.Transaction
	sync := syncs[0]
	for i := range n {
		num := from + i
		if len(syncs) > 1 && r.IntN(3) == 0 {
			sync = syncs[r.IntN(len(syncs))]
		}
		tx := step{n: num, other: num > 1 && r.IntN(6) == 0}.tx(time.Time{})
		tx.SynchronizerID = sync
		prev, ok := times[sync]
		switch {
		case !ok:
			tx.RecordTime = ledgertest.DefaultStartTime.Add(time.Duration(num) * time.Millisecond)
		case r.IntN(5) < 3:
			tx.RecordTime = prev // a run at one record time
		default:
			tx.RecordTime = prev.Add(time.Duration(1+r.IntN(3)) * time.Millisecond)
		}
		times[sync] = tx.RecordTime
		out = append(out, tx)
	}
	return out
}

func runRestoreModel(t *testing.T, seed uint64) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 108))
	admin := behaviours[r.IntN(len(behaviours))]
	syncs := []string{ledgertest.DefaultSynchronizer}
	if r.IntN(2) == 0 {
		syncs = append(syncs, otherSynchronizer)
	}
	b := newBundle(t, ledgertest.WithAdminBehaviour(admin))
	times := map[string]time.Time{}
	next := 1
	appendRandom := func(n int) []*ledger.Transaction {
		txs := restoreModelHistory(r, next, n, syncs, times)
		next += n
		if n > 0 {
			_, err := b.p.Append(txs...)
			require.NoError(t, err)
		}
		return txs
	}
	// ingestSome ingests, in random steps and batch sizes, to a random
	// transaction at or past the checkpoint (or nowhere).
	ingestSome := func() (string, error) {
		var offs []int64
		for _, tx := range b.p.Transactions() {
			if tx.Offset > readState(t, b.db).Checkpoint.Offset {
				offs = append(offs, tx.Offset)
			}
		}
		if len(offs) == 0 {
			return "nothing", nil
		}
		stop := r.IntN(len(offs))
		for i := 0; i <= stop; i += 1 + r.IntN(4) {
			if err := runRestoreModelIngesterErr(b, r, offs[min(i, stop)]); err != nil {
				return "", err
			}
		}
		if err := runRestoreModelIngesterErr(b, r, offs[stop]); err != nil {
			return "", err
		}
		return fmt.Sprintf("offset %d", offs[stop]), nil
	}
	var desc []string
	say := func(format string, args ...any) {
		desc = append(desc, fmt.Sprintf(format, args...))
	}
	say("admin %s, %d synchronizers", admin, len(syncs))

	first := appendRandom(1 + r.IntN(15))
	require.False(t, first[0].Events[0].(*ledger.CreatedEvent).Signatories[0] != treasury)
	if r.IntN(3) == 0 {
		// Ingestion ran before the backup, and the node pruned below the
		// checkpoint, as docs/OPERATIONS.md asks.
		to, err := ingestSome()
		require.NoError(t, err)
		say("ingested to %s before the backup", to)
		if cp := readState(t, b.db).Checkpoint.Offset; cp > 0 && r.IntN(2) == 0 {
			upTo := 1 + r.Int64N(cp)
			require.NoError(t, b.p.Prune(upTo))
			say("participant pruned to %d", upTo)
		}
	}
	backup := b.p.Backup()
	say("backup at ledger end %d", backup.LedgerEnd())

	otherFirst, prune := false, 0
	refused := func(err error) {
		h := readHistory(t, b.db)
		require.Empty(t, h.Duplicates, "%s: applied twice", strings.Join(desc, "; "))
		require.ErrorIs(t, err, ingest.ErrParticipantRestored, "%s", strings.Join(desc, "; "))
		require.Greater(t, len(syncs), 1, "%s: a refusal on one synchronizer", strings.Join(desc, "; "))
		// Documented: the synchronizers interleaved differently (the
		// recovery package's Limits), or dedup ids pruned further than
		// PruneBefore's rule that the replay meets again.
		// A synchronizer the Integration DB never saw is no excuse: the
		// runbook replays only from below its first transaction there,
		// which lies after the node backup, past what the rule prunes.
		require.True(t, otherFirst || prune == 2, "%s: a refusal though the dedup rows were kept as documented and the synchronizers were interleaved as before", strings.Join(desc, "; "))
		t.Logf("refused (%s): %v", strings.Join(desc, "; "), err)
	}
	rounds := 1 + r.IntN(2)
	for round := range rounds {
		if round > 0 && r.IntN(2) == 0 {
			backup = b.p.Backup()
			say("new backup at ledger end %d", backup.LedgerEnd())
		}
		appendRandom(r.IntN(20))
		to, err := ingestSome()
		if err != nil {
			refused(err)
			return
		}
		say("round %d: ingested to %s", round, to)
		// Dedup retention: none, within the rule (before the backup's
		// record times and the oldest of the checkpoint's), or as far as
		// PruneBefore goes (it keeps what the default mode replays,
		// whatever t).
		if p := r.IntN(3); p > 0 {
			prune = max(prune, p)
			pt := ledgertest.DefaultStartTime.Add(time.Hour)
			if p == 1 {
				pt = times[syncs[0]]
				for _, rt := range times {
					pt = minTime(pt, rt)
				}
				for _, tx := range b.p.Transactions() {
					if tx.Offset > backup.LedgerEnd() {
						pt = minTime(pt, tx.RecordTime)
					}
				}
				for _, rt := range readState(t, b.db).Checkpoint.RecordTimes {
					pt = minTime(pt, rt)
				}
			}
			dd, err := dedup.NewStore(schema.DefaultName)
			require.NoError(t, err)
			n, err := dd.PruneBefore(ctx, b.db, pt)
			require.NoError(t, err)
			say("dedup pruned %d before %s (%d)", n, pt.Format("05.000"), p)
		}
		appendRandom(r.IntN(6)) // deposits while ingestion is stopped
		var ropts []ledgertest.RestoreOption
		if len(syncs) > 1 && r.IntN(2) == 0 {
			otherFirst = true
			ropts = append(ropts, ledgertest.WithSynchronizersFirst(otherSynchronizer))
		}
		if os.Getenv("TXHISTORY_RV108_DUMP") != "" {
			for _, tx := range b.p.Transactions() {
				t.Logf("before the restore: %s @%d %s %s %s", tx.UpdateID, tx.Offset, tx.SynchronizerID, tx.RecordTime.Format("05.000"), tx.Events[0].(*ledger.CreatedEvent).Signatories[0])
			}
		}
		b.p.Restore(backup, ropts...)
		say("restored (other synchronizer first %t)", otherFirst)
		appendRandom(r.IntN(6))

		// Plan in both modes: Plan writes nothing.
		var plans []*recovery.Rewind
		for _, mode := range []recovery.Mode{recovery.ModeNonUnique, recovery.ModeUnique} {
			o := options(mode)
			o.Timeout = 2 * time.Second
			rw, err := recovery.Plan(ctx, b.db, b.client, o)
			if err != nil {
				require.True(t, errors.Is(err, recovery.ErrRecordTimeNotUnique) || errors.Is(err, recovery.ErrDedupMissing),
					"%s: Plan(%s) failed with an undocumented error: %v", strings.Join(desc, "; "), mode, err)
				if mode == recovery.ModeNonUnique {
					t.Fatalf("%s: the default mode refused: %v", strings.Join(desc, "; "), err)
				}
				continue
			}
			plans = append(plans, rw)
		}
		rw := plans[r.IntN(len(plans))]
		say("applied %s to %d (%d plans)", rw.Mode, rw.To, len(plans))
		t.Logf("applied %s:\n%s", rw.Mode, rw)
		require.NoError(t, recovery.Apply(ctx, b.db, rw))
	}

	// Resume to the end, in random batch sizes.
	if err := runRestoreModelIngesterErr(b, r, b.p.LedgerEnd()); err != nil {
		refused(err)
		return
	}
	var want []string
	for _, tx := range b.p.Transactions() {
		if tx.Events[0].(*ledger.CreatedEvent).Signatories[0] == treasury {
			want = append(want, tx.UpdateID)
		}
	}
	st := readState(t, b.db)
	h := readHistory(t, b.db)
	require.Empty(t, h.Duplicates, "%s: applied twice", strings.Join(desc, "; "))
	got := updateIDs(h.Rows)
	slices.Sort(got)
	slices.Sort(want)
	require.Equal(t, want, got, "%s: not every treasury update applied once", strings.Join(desc, "; "))
	if prune > 0 {
		return
	}
	dedupIDs := make([]string, len(st.Dedup))
	for i, d := range st.Dedup {
		dedupIDs[i], _, _ = strings.Cut(d, "@")
	}
	slices.Sort(dedupIDs)
	require.Equal(t, want, dedupIDs, "%s: the dedup table", strings.Join(desc, "; "))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func runRestoreModelIngesterErr(b *bundle, r *rand.Rand, end int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ing, err := ingest.New(b.db, b.client, ingest.Config{
		Parties: []string{treasury}, Handler: effects, Logger: quietLog,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, LedgerEndPoll: 10 * time.Millisecond,
		EndOffset: end, MaxBatchSize: 1 + r.IntN(4), MaxBatchDelay: time.Millisecond,
	})
	if err != nil {
		return err
	}
	return ing.Run(ctx)
}

func runRestoreModelIngester(t *testing.T, b *bundle, r *rand.Rand, end int64) {
	t.Helper()
	require.NoError(t, runRestoreModelIngesterErr(b, r, end))
}

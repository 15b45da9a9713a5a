package recovery_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// groupSize is how many transactions share one record time in the group
// tests: as after an ACS import, a party migration or a repair.
const groupSize = 3000

// groupScript is 40 transactions, groupSize sharing the record time of
// tx 41 (tx 41 to 40+groupSize), then 40 more; every seventh is another
// party's.
func groupScript() []step {
	var same []int
	for n := 42; n <= 40+groupSize; n++ {
		same = append(same, n)
	}
	return script(80+groupSize, same...)
}

func txID(n int) string { return fmt.Sprintf("tx-%05d", n) }

// ingestSmall ingests up to end in batches of at most 97 transactions.
func ingestSmall(t testing.TB, b *bundle, end int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	require.NoError(t, newIngester(t, b, ingest.Config{EndOffset: end, MaxBatchSize: 97, MaxBatchDelay: time.Millisecond}).Run(ctx))
}

// The validator node restore runbook, in both modes, when thousands of
// transactions share tRecovery: the last ingested transaction in the
// middle of the group, the last of the group, and the group straddling
// the backup point; the restored participant numbers the offsets anew
// (shifted up, or down with an offset step). ModeNonUnique ends with the
// history of a run without the restore; ModeUnique either does too or
// refuses with ErrRecordTimeNotUnique (in the middle of the group).
func TestRV69RunbookWithGroupAtTRecovery(t *testing.T) {
	steps := groupScript()
	want := reference(t, steps)
	first, last := 41, 40+groupSize
	mid := first + groupSize/2
	if mid%7 == 3 { // another party's: not ingested by the treasury
		mid++
	}
	cases := []struct {
		name     string
		backupAt int // steps played before the backup
		lastTx   string
	}{
		{"backup before the group, last ingested in its middle", 30, txID(mid)},
		{"backup before the group, last ingested its last", 30, txID(last)},
		{"backup before the group, last ingested its first", 30, txID(first)},
		{"group straddles the backup, last ingested in its middle after the backup", mid - 500, txID(mid)},
		{"group straddles the backup, last ingested in its middle before the backup", mid + 500, txID(mid)},
		{"group straddles the backup, last ingested its last", mid, txID(last)},
		{"group straddles the backup, last ingested after the group", mid, txID(last + 20)},
	}
	shifts := []struct {
		name string
		opts []ledgertest.Option
		ro   []ledgertest.RestoreOption
	}{
		{"shifted up", nil, nil},
		{"shifted down", []ledgertest.Option{ledgertest.WithOffsetStep(3)}, []ledgertest.RestoreOption{ledgertest.WithOffsetShift(-2)}},
	}
	for _, c := range cases {
		for _, sh := range shifts {
			for _, mode := range []recovery.Mode{recovery.ModeNonUnique, recovery.ModeUnique} {
				t.Run(c.name+"/"+sh.name+"/"+string(mode), func(t *testing.T) {
					ctx := context.Background()
					b := newBundle(t, sh.opts...)
					play(t, b.p, steps[:c.backupAt])
					backup := b.p.Backup()
					play(t, b.p, steps[c.backupAt:])
					ingestSmall(t, b, offsetOf(t, b.p, c.lastTx))
					b.p.Restore(backup, sh.ro...)

					rw, err := recovery.Plan(ctx, b.db, b.client, options(mode))
					if mode == recovery.ModeUnique && c.lastTx != txID(last) && c.lastTx != txID(last+20) {
						require.ErrorIs(t, err, recovery.ErrRecordTimeNotUnique)
						return
					}
					require.NoError(t, err)
					require.NoError(t, recovery.Apply(ctx, b.db, rw))
					ingestSmall(t, b, b.p.LedgerEnd())
					got := readHistory(t, b.db)
					require.Empty(t, got.Duplicates, "applied twice (offRecovery %d)", rw.To)
					require.Equal(t, len(want.Rows), len(got.Rows), "transactions lost (offRecovery %d)", rw.To)
					require.Equal(t, want, got)
				})
			}
		}
	}
}

// The restored participant is still recovering the group when the runbook
// runs: it has recovered the last ingested transaction and a few more of
// the group, not the rest. ModeNonUnique resumes before the group and
// ingests the rest as it is recovered; ModeUnique refuses (the
// participant shows more transactions at tRecovery after the last
// ingested one), or, with exactly the last ingested one recovered, resumes
// after it.
func TestRV69RunbookWhileTheGroupIsRecovered(t *testing.T) {
	steps := groupScript()
	want := reference(t, steps)
	mid := 41 + groupSize/2
	for _, more := range []int{0, 10} {
		for _, mode := range []recovery.Mode{recovery.ModeNonUnique, recovery.ModeUnique} {
			t.Run(fmt.Sprintf("%d more recovered/%s", more, mode), func(t *testing.T) {
				ctx := context.Background()
				b := newBundle(t)
				play(t, b.p, steps[:30])
				backup := b.p.Backup()
				play(t, b.p, steps[30:])
				ingestSmall(t, b, offsetOf(t, b.p, txID(mid)))
				b.p.Restore(backup, ledgertest.WithCatchUp(true))
				// Steps 31..mid are mid-30 transactions, every seventh
				// another party's: the participant recovers them all.
				b.p.CatchUp(mid - 30 + more)

				rw, err := recovery.Plan(ctx, b.db, b.client, options(mode))
				if mode == recovery.ModeUnique && more > 0 {
					require.ErrorIs(t, err, recovery.ErrRecordTimeNotUnique)
					return
				}
				require.NoError(t, err)
				require.NoError(t, recovery.Apply(ctx, b.db, rw))
				ingestSmall(t, b, b.p.LedgerEnd())
				b.p.CatchUp(-1)
				ingestSmall(t, b, b.p.LedgerEnd())
				got := readHistory(t, b.db)
				require.Empty(t, got.Duplicates, "applied twice (offRecovery %d)", rw.To)
				require.Equal(t, want, got, "offRecovery %d", rw.To)
			})
		}
	}
}

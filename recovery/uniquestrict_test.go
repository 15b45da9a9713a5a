package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// recovery/doc.go, Limits: an already ingested transaction of another
// synchronizer that the restored node puts after the last ingested one
// stops ingestion with ingest.ErrParticipantRestored rather than hide a
// transaction the new order put below (m here, which the restored node
// puts below offRecovery). In both modes: ModeUnique resumes right after
// the last ingested transaction, so there is no replay in which to
// tolerate anything; before the fix the Ingester waited for that
// transaction to come again, tolerated everything meanwhile, and skipped
// m in silence.
func TestUniqueModeChecksStrictlyAfterTheLastIngested(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(id, sync string, n int, rt time.Time) *ledger.Transaction {
		tx := step{n: n}.tx(time.Time{})
		tx.UpdateID, tx.SynchronizerID, tx.RecordTime = id, sync, rt
		return tx
	}
	a1 := func() *ledger.Transaction { return mk("a1", "A", 1, t0.Add(10*time.Second)) }
	k := func() *ledger.Transaction { return mk("k", "B", 2, t0.Add(5*time.Second)) }
	b2 := func() *ledger.Transaction { return mk("b2", "B", 3, t0.Add(8*time.Second)) }
	l := func() *ledger.Transaction { return mk("l", "A", 4, t0.Add(20*time.Second)) }
	m := func() *ledger.Transaction { return mk("m", "C", 5, t0.Add(7*time.Second)) }

	for _, c := range []struct {
		mode recovery.Mode
		// lookupsOnly hides the client's stream and synchronizer list from
		// Plan (a Participant of the interface's methods alone), so that
		// it cannot find m's synchronizer and ModeUnique resumes right
		// after l: the Ingester's strict check is all that stops a skip.
		lookupsOnly bool
	}{{recovery.ModeNonUnique, false}, {recovery.ModeUnique, false}, {recovery.ModeUnique, true}} {
		mode := c.mode
		name := string(mode)
		if c.lookupsOnly {
			name += "/lookups-only"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			// Before the restore: a1@1 k@2 b2@3 l@4 m@5; ingested up to l.
			b := newBundle(t)
			_, err := b.p.Append(a1(), k(), b2(), l(), m())
			require.NoError(t, err)
			ingestTo(t, b, 4)

			// The restored node: a1@1 m@2 (time advance of A @3) l@4 k@5 b2@6.
			p2, err := ledgertest.New(ledgertest.WithSeparateAdmin())
			require.NoError(t, err)
			t.Cleanup(p2.Close)
			_, err = p2.Append(a1(), m())
			require.NoError(t, err)
			p2.AdvanceTime("A", t0.Add(15*time.Second))
			_, err = p2.Append(l(), k(), b2())
			require.NoError(t, err)
			c2, err := ledger.Dial(ledger.Config{
				LedgerAPI: ledger.Endpoint{Target: p2.Addr(), Insecure: true},
				Admin:     ledger.Endpoint{Target: p2.AdminAddr(), Insecure: true},
			})
			require.NoError(t, err)
			t.Cleanup(func() { c2.Close() })
			b2nd := &bundle{p: p2, db: b.db, client: c2}

			var participant recovery.Participant = c2
			if c.lookupsOnly {
				participant = struct{ recovery.Participant }{c2}
			}
			rw, err := recovery.Plan(ctx, b.db, participant, options(mode))
			require.NoError(t, err)
			require.NoError(t, recovery.Apply(ctx, b.db, rw))
			if c.lookupsOnly {
				require.Equal(t, rw.ParticipantOffset, readState(t, b.db).Checkpoint.UpdateOffset,
					"resuming right after it, the checkpoint knows the last ingested transaction's new offset")
			} else {
				// m's synchronizer C was never ingested from: Plan reads
				// the treasury's transactions up to offRecovery, finds m
				// at 2 and resumes just below it.
				require.Equal(t, int64(1), rw.To, "%s", rw)
			}
			err = ingestErr(t, b2nd)
			var ingestedM int
			require.NoError(t, b.db.Get(&ingestedM, `SELECT count(*) FROM txhistory.ingested_update WHERE update_id = 'm'`))
			t.Logf("%s: offRecovery %d, Run: %v, m ingested: %d", mode, rw.To, err, ingestedM)
			require.ErrorIs(t, err, ingest.ErrParticipantRestored, "k comes after the last ingested transaction l: ingestion must stop rather than skip m silently")
		})
	}
}

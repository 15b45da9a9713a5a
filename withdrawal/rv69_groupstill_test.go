package withdrawal_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// While ingestion works through thousands of transactions sharing one
// record time before tSafe (an ACS import, a party migration or a repair,
// here longer than StillAfter), that record time stands still but
// ingestion runs: RestoreProcedure's step 3 must not say it has not moved
// and ask whether ingestion is running, nor, for the synchronizer of a
// withdrawal in flight, that it keeps the gate closed for good and to
// open the gate by hand (Store.EnableAfter, which would not wait for the
// transfers behind the group), as long as transactions at that record
// time keep being ingested.
func TestRV69RestoreProcedureGroupAtOneRecordTimeIsNotStandingStill(t *testing.T) {
	for _, behind := range []bool{false, true} {
		name := "store's clock"
		if behind {
			name = "synchronizer of a withdrawal in flight"
		}
		t.Run(name, func(t *testing.T) {
			l := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{})
			store, err := withdrawal.NewStore(l.db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog,
				Synchronizer: ledgertest.DefaultSynchronizer})
			require.NoError(t, err)
			l.store = store
			holdings := l.mintAndCatchUp("100")
			T := l.now
			tSafe := T.Add(ttl + time.Second)
			groupSync := ledgertest.DefaultSynchronizer
			if behind {
				groupSync = syncB
				l.p.AdvanceTime(syncB, T)
				require.NoError(t, l.settle())
				r := l.request("wd-on-b", "40", holdings[0])
				r.SynchronizerID = syncB
				_, err = l.store.Create(l.ctx, r)
				require.NoError(t, err)
				_, err = l.store.MarkSubmitted(l.ctx, r.ID)
				require.NoError(t, err)
				l.advance(tSafe.Sub(l.now) + time.Second) // the store's clock (A) past tSafe
				l.caughtUp()
			}

			var mu sync.Mutex
			var msgs []string
			ctx, cancel := context.WithCancel(l.ctx)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := withdrawal.RestoreProcedure{Store: l.store, TSafe: tSafe, PollInterval: 5 * time.Millisecond,
					ReportInterval: time.Hour, StillAfter: 3 * time.Second, Logger: quietLog,
					Progress: func(pr withdrawal.RestoreProgress) {
						if pr.Step == withdrawal.StepWait && !pr.Done {
							mu.Lock()
							msgs = append(msgs, pr.Message)
							mu.Unlock()
						}
					}}.Run(ctx)
				done <- err
			}()

			// 3,000 transactions at T in groups of 20 appended 40ms apart,
			// ingested as they come: several seconds at one record time,
			// twice StillAfter. (A StillAfter of one second was shorter
			// than the pauses between commits of an ingester slowed by
			// -race on a busy machine: step 3 then rightly saw nothing
			// ingested for a second.)
			start := time.Now()
			for i := 0; i < 150; i++ {
				var txs []*ledger.Transaction
				for j := 0; j < 20; j++ {
					tx := l.world.Tx(l.world.MintOp(treasury, "1"))
					tx.RecordTime, tx.SynchronizerID = T, groupSync
					txs = append(txs, tx)
				}
				_, err := l.p.Append(txs...)
				require.NoError(t, err)
				time.Sleep(40 * time.Millisecond)
			}
			l.caughtUp()
			took := time.Since(start)
			cancel()
			require.ErrorIs(t, <-done, context.Canceled)
			require.Greater(t, took, 6*time.Second, "the group took less than twice StillAfter: the test shows nothing")
			var n int
			require.NoError(t, l.db.Get(&n, `SELECT count(*) FROM txhistory.ingested_update WHERE record_time = $1 AND synchronizer_id = $2`, T, groupSync))
			require.GreaterOrEqual(t, n, 3000)
			mu.Lock()
			defer mu.Unlock()
			require.NotEmpty(t, msgs)
			for _, m := range msgs {
				require.NotContains(t, m, "not moved", "step 3 said the record time stands still while ingestion ingested transaction after transaction at %s", T)
			}
		})
	}
}

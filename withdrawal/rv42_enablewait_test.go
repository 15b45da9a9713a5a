package withdrawal_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// TestEnableAfterWaitingForTheGateChecksAfterTheWait: EnableAfter (step 4
// of the restore procedure) has to wait for the gate row while another
// transaction holds it in share mode, here an exchange transaction whose
// retried CreateTx got its stored withdrawal back. What commits while it
// waits, a rewind of the checkpoint (the validator node runbook) or a
// transaction set aside for review, must be seen by its check: the gate
// opens only if the ingested record time is past tSafe, and nothing
// waits for review, when it opens.
func TestEnableAfterWaitingForTheGateChecksAfterTheWait(t *testing.T) {
	for _, tc := range []struct {
		name      string
		meanwhile func(e *env, tSafe time.Time)
	}{
		{"checkpoint rewound", func(e *env, tSafe time.Time) {
			cp, _, err := e.cps.Get(e.ctx, e.db)
			require.NoError(e.t, err)
			tx, err := e.db.BeginTxx(e.ctx, nil)
			require.NoError(e.t, err)
			require.NoError(e.t, e.cps.RewindTx(e.ctx, tx, checkpoint.Rewind{From: cp.Offset, To: 1,
				SynchronizerID: e.world.SynchronizerID, RecoveryTime: tSafe.Add(-time.Minute), Mode: "unique", Note: "rv42"}))
			require.NoError(e.t, tx.Commit())
		}},
		{"transaction set aside", func(e *env, _ time.Time) {
			_, err := e.db.ExecContext(e.ctx, `INSERT INTO txhistory.review_transaction (update_id, ledger_offset, error)
				VALUES ('upd-set-aside', 1, 'rv42')`)
			require.NoError(e.t, err)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
			cids := e.mint("10")
			r := e.request("wd-1", "5", cids[0])
			e.create(r)
			tSafe := e.world.Now().Add(time.Minute)
			e.tick(tSafe.Add(time.Minute))
			require.NoError(t, e.store.Disable(e.ctx, "restore: step 2"))

			// The exchange retries the create of wd-1 in its transaction: it
			// gets the stored withdrawal, and holds the gate in share mode.
			xtx, err := e.db.BeginTxx(e.ctx, nil)
			require.NoError(t, err)
			defer func() { _ = xtx.Rollback() }()
			_, err = e.store.CreateTx(e.ctx, xtx, r)
			require.NoError(t, err)

			type result struct {
				opened   bool
				ingested time.Time
				err      error
			}
			done := make(chan result, 1)
			go func() {
				opened, ingested, err := e.store.EnableAfter(e.ctx, tSafe, "restore: step 4")
				done <- result{opened, ingested, err}
			}()
			require.True(t, lockWaiter(t, e.ctx, e.db, "%withdrawal_gate%", 10*time.Second), "EnableAfter does not wait for the gate row")
			tc.meanwhile(e, tSafe)
			require.NoError(t, xtx.Commit())

			res := <-done
			require.NoError(t, res.err)
			ingested, err := e.store.IngestedTime(e.ctx)
			require.NoError(t, err)
			g, err := e.store.Gate(e.ctx)
			require.NoError(t, err)
			require.False(t, res.opened || g.Enabled,
				"EnableAfter opened the gate (reporting ingested record time %s) over what committed while it waited: ingested record time now %s, tSafe %s",
				res.ingested, ingested, tSafe)
		})
	}
}

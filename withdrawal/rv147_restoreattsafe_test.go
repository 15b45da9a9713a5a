package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The restore procedure at the boundary: tSafe is raised to T, the trecTgt
// of a restored withdrawal in flight, later than the TSafe given. With the
// ingested record time at exactly T the gate stays closed and that
// withdrawal is not expired; a lost withdrawal's transfer committed at T
// (record times can repeat) is then recovered (paid, not refunded).
// A microsecond past T the restored one expires and the gate opens.
func TestRV147RestoreProcedureWithIngestedAtTSafe(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10", "10")
	inFlight := e.create(e.request("wd-restored", "5", cids[0]))
	T := inFlight.TrecTgt

	var atT, lostSent, past bool
	waitsAtT := 0
	p := withdrawal.RestoreProcedure{
		Store: e.store, TSafe: T.Add(-time.Minute), PollInterval: time.Millisecond, Logger: quietLog,
		Restore: func(context.Context) error { return nil },
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step != withdrawal.StepWait || pr.Done {
				return
			}
			require.True(t, pr.TSafe.Equal(T), "tSafe %s, want the restored trecTgt %s", pr.TSafe, T)
			g, err := e.store.Gate(e.ctx)
			require.NoError(t, err)
			require.False(t, g.Enabled, "the gate opened with the ingested record time %s, tSafe %s", pr.Ingested, pr.TSafe)
			switch {
			case !atT:
				e.tick(T)
				atT = true
			case waitsAtT < 5:
				require.True(t, pr.Ingested.Equal(T), "ingested %s", pr.Ingested)
				require.Equal(t, withdrawal.StatusRequested, e.get("wd-restored").Status, "expired at exactly its trecTgt")
				waitsAtT++
			case !lostSent:
				lost := e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "5",
					InputHoldings: cids[1:], Reason: "wd-lost"})
				lost.RecordTime = T
				e.apply(lost)
				lostSent = true
			case !past:
				require.Equal(t, withdrawal.StatusRecovered, e.get("wd-lost").Status)
				e.tick(T.Add(time.Microsecond))
				past = true
			}
		},
	}
	rep, err := p.Run(e.ctx)
	require.NoError(t, err)
	require.True(t, past, "the gate opened before the ingested record time passed tSafe")
	require.True(t, rep.Ingested.Equal(T.Add(time.Microsecond)), "opened at %s", rep.Ingested)
	g, err := e.store.Gate(e.ctx)
	require.NoError(t, err)
	require.True(t, g.Enabled)
	require.Equal(t, withdrawal.StatusExpired, e.get("wd-restored").Status)
	lost := e.get("wd-lost")
	require.True(t, lost.Recovered)
	require.Equal(t, withdrawal.StatusRecovered, lost.Status)
	require.Equal(t, map[string]string{"wd-restored": "6"}, refunds(t, e.db))
}

package withdrawal_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// While the restore procedure waits for tSafe, re-ingestion sets a
// transaction aside for review: the transfer of a withdrawal whose request
// was lost in the restore (its exercise result is one the parser refuses). Nothing
// has seen it, so the gate stays closed past tSafe until the review row is
// resolved: its spent holding must not be withdrawn again meanwhile.
func TestRestoreWaitsForTransactionsSetAside(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog, OnError: tokenstd.SetAside})
	require.NoError(t, err)
	rec, err := withdrawal.NewReconciler(e.store, withdrawal.ReconcilerConfig{History: history})
	require.NoError(t, err)
	e.handler = ingest.Handlers(history, rec)
	cids := e.mint("10", "10")
	lost := e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "5",
		InputHoldings: []string{cids[0]}, Reason: "wd-lost"})
	lost.Events[0].(*ledger.ExercisedEvent).ExerciseResult = ledger.Text("not a result") // the parser refuses it

	ledgerNow := e.world.Now()
	fed, held := false, false
	rep, err := withdrawal.RestoreProcedure{
		Store: e.store, TTL: ttl, Now: func() time.Time { return ledgerNow }, PollInterval: time.Millisecond, Logger: quietLog,
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step != withdrawal.StepWait || pr.Done || pr.Waited == 0 {
				return
			}
			switch {
			case !fed:
				fed = true
				e.apply(lost)
			case pr.Ingested.After(pr.TSafe) && strings.Contains(pr.Message, "1 transactions set aside for review are unresolved"):
				// Past tSafe, held by the review row.
				g, err := e.store.Gate(e.ctx)
				require.NoError(t, err)
				require.False(t, g.Open(), "the gate opened with the review row unresolved")
				_, err = e.store.Create(e.ctx, e.request("wd-again", "5", cids[0]))
				require.ErrorIs(t, err, withdrawal.ErrWithdrawalsDisabled)
				held = true
				_, err = e.db.Exec(`UPDATE txhistory.review_transaction SET resolved_at = now(), resolution = 'restore test'`)
				require.NoError(t, err)
			default:
				e.tick(e.times[e.world.SynchronizerID].Add(ttl / 4))
			}
		},
	}.Run(e.ctx)
	require.NoError(t, err)
	require.True(t, held, "the procedure never waited for the review row")
	require.True(t, rep.Ingested.After(rep.TSafe))
	g, err := e.store.Gate(e.ctx)
	require.NoError(t, err)
	require.True(t, g.Open())
}

// A withdrawal's transfer is on the ledger but its transaction was set
// aside for review (the parser refused its exercise result): nobody has
// seen the transfer, so the Reconciler expires nothing until the review row
// is resolved. The public ExpireDue, given the ingested record times (the
// checkpoint's: no wall clock), must hold back the same way: expiring
// wd-1 refunds its user while its transfer paid out (paid twice), which
// the package's guarantee "a withdrawal whose transfer is on the ledger is
// never expired" rules out.
func TestExpireDueHoldsWhileATransactionIsSetAside(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog, OnError: tokenstd.SetAside})
	require.NoError(t, err)
	rec, err := withdrawal.NewReconciler(e.store, withdrawal.ReconcilerConfig{History: history})
	require.NoError(t, err)
	e.handler = ingest.Handlers(history, rec)
	cids := e.mint("10")
	w := e.create(e.request("wd-1", "5", cids[0]))
	paid := e.transfer(w, "0")
	paid.Events[0].(*ledger.ExercisedEvent).ExerciseResult = ledger.Text("not a result") // the parser refuses it
	e.apply(paid)
	e.tick(w.TrecTgt.Add(ttl))
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-1").Status, "the Reconciler holds expiry while the review row is open")

	cp, _, err := e.cps.Get(e.ctx, e.db)
	require.NoError(t, err)
	_, err = e.store.ExpireDue(e.ctx, cp.RecordTimes)
	require.NoError(t, err)
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-1").Status,
		"ExpireDue expired wd-1 while its transfer sits in a transaction set aside for review")
	require.Empty(t, refunds(t, e.db))
}

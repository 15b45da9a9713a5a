package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

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

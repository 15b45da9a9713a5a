package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// With Config.Instruments set, Create refuses a withdrawal of another
// instrument: ingestion (History with the same list) ignores its
// transfers, so it would never be seen paid, would expire and be refunded
// though paid. NewReconciler refuses a History whose list differs from the
// store's, and NewStore an entry without admin or id.
func TestCreateRefusesAnInstrumentNotListed(t *testing.T) {
	amulet := instrument((&ledgertest.TokenWorld{}).Instrument())
	e := newEnv(t, withdrawal.Config{Instruments: []tokenstd.Instrument{amulet}}, withdrawal.ReconcilerConfig{})
	cids := e.mint("60")
	usd := e.world.Instrument("USDX")
	usdOp := e.world.MintOp(treasury, "70", usd)
	e.apply(e.world.Tx(usdOp))

	r := e.request("wd-usd", "10", usdOp.Created[0].ContractID)
	r.Instrument = instrument(usd)
	_, err := e.store.Create(e.ctx, r)
	require.ErrorIs(t, err, withdrawal.ErrInvalidRequest)
	require.ErrorContains(t, err, `instrument "USDX@`)
	require.ErrorContains(t, err, "not among Config.Instruments")
	_, err = e.store.Get(e.ctx, "wd-usd")
	require.ErrorIs(t, err, withdrawal.ErrNotFound)
	e.create(e.request("wd-amulet", "10", cids[0]))

	// The History and the store must list the same instruments.
	other, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog, Instruments: []tokenstd.Instrument{amulet, instrument(usd)}})
	require.NoError(t, err)
	_, err = withdrawal.NewReconciler(e.store, withdrawal.ReconcilerConfig{History: other})
	require.ErrorContains(t, err, "give both the same list")
	unlisted, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog})
	require.NoError(t, err)
	_, err = withdrawal.NewReconciler(e.store, withdrawal.ReconcilerConfig{History: unlisted})
	require.ErrorContains(t, err, "give both the same list")
	same, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog, Instruments: []tokenstd.Instrument{amulet, amulet}})
	require.NoError(t, err)
	_, err = withdrawal.NewReconciler(e.store, withdrawal.ReconcilerConfig{History: same})
	require.NoError(t, err)

	_, err = withdrawal.NewStore(e.db, withdrawal.Config{Instruments: []tokenstd.Instrument{amulet, {ID: "USDX"}}})
	require.ErrorContains(t, err, "Config.Instruments[1]")
}

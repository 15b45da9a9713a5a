package ingest_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A Handler whose pool of its own names a database the server does not
// have (a typo in its DSN, a database renamed or dropped in a migration)
// is refused at login (3D000) for every transaction alike, as it is for a
// password rotated under it (28P01): a fault of the deployment. Under
// PoisonSetAside it must stop, naming the first transaction, with nothing
// set aside and the checkpoint where it was.
func TestSetAsideStopsOnAHandlersMissingDatabase(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 20)
	first := treasuryTxs(b.p)[0]
	u, err := url.Parse(b.dsn)
	require.NoError(t, err)
	u.Path = "/exchange_ledger_renamed"
	other, err := sqlx.Open("postgres", u.String())
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })
	h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
		if _, err := other.ExecContext(ctx, `SELECT 1`); err != nil {
			return err
		}
		return effectsHandler(ctx, tx, bt)
	})
	ing := newIngester(t, b, ingest.Config{Handler: h, Poison: ingest.PoisonSetAside, EndOffset: b.p.LedgerEnd(), MaxAttempts: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = ing.Run(ctx)
	aside, lerr := ing.SetAsideTransactions(context.Background())
	require.NoError(t, lerr)
	if len(aside) > 0 {
		t.Fatalf("%d transactions set aside for the handler's database that does not exist (Run: %v); the first: %s: %s", len(aside), err, aside[0].UpdateID, aside[0].Error)
	}
	require.Error(t, err, "ran to the end with every transaction set aside")
	require.ErrorContains(t, err, first.UpdateID)
	require.ErrorContains(t, err, "3D000")
	cs, err := checkpoint.NewStore("txhistory")
	require.NoError(t, err)
	cp, _, err := cs.Get(context.Background(), b.db)
	require.NoError(t, err)
	require.Zero(t, cp.Offset, "the checkpoint moved past transactions never applied")
}

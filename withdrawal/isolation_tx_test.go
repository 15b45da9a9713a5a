package withdrawal_test

import (
	"database/sql"
	"testing"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// CreateTx asks for a READ COMMITTED transaction: its schema check would
// read the version from a snapshot older than the migration lock's wait in
// another. A caller's REPEATABLE READ transaction gets an error naming the
// isolation it needs, and nothing is stored; the same request in a READ
// COMMITTED one is stored.
func TestCreateTxRefusesRepeatableRead(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("80")

	tx, err := e.db.BeginTxx(e.ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	require.NoError(t, err)
	_, err = e.store.CreateTx(e.ctx, tx, e.request("wd-rr", "60", cids[0]))
	require.ErrorContains(t, err, "needs a READ COMMITTED transaction, this one is REPEATABLE READ")
	require.NoError(t, tx.Rollback())
	_, err = e.store.Get(e.ctx, "wd-rr")
	require.ErrorIs(t, err, withdrawal.ErrNotFound)

	tx, err = e.db.BeginTxx(e.ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	require.NoError(t, err)
	w, err := e.store.CreateTx(e.ctx, tx, e.request("wd-rr", "60", cids[0]))
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	require.Equal(t, withdrawal.StatusRequested, w.Status)
}

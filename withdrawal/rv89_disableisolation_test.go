package withdrawal_test

import (
	"database/sql"
	"os"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// OPERATIONS.md says the writers that check the schema's version first
// refuse a transaction of the caller's that is not READ COMMITTED, naming
// "withdrawal.Store's ...Tx writers" whole, while DisableTx (the brake)
// checks no version: it closes the gate in a REPEATABLE READ transaction
// too. The guide must not tell an exchange that it is refused.
func TestRV89DisableTxIsolationIsDocumented(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	tx, err := e.db.BeginTxx(e.ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	require.NoError(t, e.store.DisableTx(e.ctx, tx, "brake at REPEATABLE READ"))
	require.NoError(t, tx.Commit())
	g, err := e.store.Gate(e.ctx)
	require.NoError(t, err)
	require.False(t, g.Enabled)

	tx, err = e.db.BeginTxx(e.ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	require.ErrorContains(t, e.store.EnableTx(e.ctx, tx, "open at REPEATABLE READ"), "READ COMMITTED")

	b, err := os.ReadFile("../docs/OPERATIONS.md")
	require.NoError(t, err)
	doc := strings.Join(strings.Fields(strings.ReplaceAll(string(b), "`", "")), " ")
	_, s, found := strings.Cut(doc, "schema.CheckCurrentTx and the writers that call it first")
	require.True(t, found, "docs/OPERATIONS.md: no sentence on the writers refusing another isolation")
	s, _, found = strings.Cut(s, "refuse any but READ COMMITTED")
	require.True(t, found)
	require.Contains(t, s, "DisableTx", "docs/OPERATIONS.md names withdrawal.Store's ...Tx writers whole among those refusing any isolation but READ COMMITTED (%q), but DisableTx takes any", s)
}

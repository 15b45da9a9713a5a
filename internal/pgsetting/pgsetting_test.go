package pgsetting_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cantonx/txhistory/internal/pgsetting"
	"github.com/cantonx/txhistory/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Off turns the settings off in the transaction and its function sets back
// the values they had there, a SET LOCAL of the caller's included; nothing
// outlives the transaction.
func TestOffSetsBackWhatTheTransactionHad(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	db.SetMaxOpenConns(1)
	_, err := db.Exec(`SET lock_timeout = '2s'`)
	require.NoError(t, err)

	tx, err := db.BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.Exec(`SET LOCAL statement_timeout = '1min'`)
	require.NoError(t, err)

	restore, err := pgsetting.Off(ctx, tx, "lock_timeout", "statement_timeout")
	require.NoError(t, err)
	var lock, statement string
	require.NoError(t, tx.QueryRow(`SELECT current_setting('lock_timeout'), current_setting('statement_timeout')`).Scan(&lock, &statement))
	require.Equal(t, []string{"0", "0"}, []string{lock, statement})

	require.NoError(t, restore(ctx))
	require.NoError(t, tx.QueryRow(`SELECT current_setting('lock_timeout'), current_setting('statement_timeout')`).Scan(&lock, &statement))
	require.Equal(t, []string{"2s", "1min"}, []string{lock, statement})
	require.NoError(t, tx.Commit())

	require.NoError(t, db.QueryRow(`SELECT current_setting('lock_timeout'), current_setting('statement_timeout')`).Scan(&lock, &statement))
	require.Equal(t, []string{"2s", "0"}, []string{lock, statement}, "the session's own values after the transaction")
}

package recovery_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// Plan's doc says that when Options.Timeout ends its calls it fails having
// written nothing, to be run again; a participant's error leaves the
// caller's transaction usable, so an operator runs it again in the same
// transaction. Neither the failed Plan nor the one that then returns the
// rewind may leave that transaction without its
// idle_in_transaction_session_timeout: the failed one's "off" is not the
// transaction's value for the next one to set back.
func TestRV161PlanRunAgainInTxSetsIdleTimeoutBack(t *testing.T) {
	ctx := context.Background()
	b, tx, idle := restoredWithIdleTimeoutTx(t)

	// A participant not answering yet: Plan gives up after Options.Timeout.
	b.p.Intercept(ledgertest.MethodGetHighestOffsetByTimestamp, func(ctx context.Context, _ proto.Message) error {
		<-ctx.Done()
		return ctx.Err()
	})
	o := options(recovery.ModeNonUnique)
	o.Timeout = 200 * time.Millisecond
	_, err := recovery.Plan(ctx, tx, b.client, o)
	require.ErrorIs(t, err, recovery.ErrNotCaughtUp)
	require.Equal(t, "5min", idle(), "the failed Plan left the caller's transaction without its idle timeout")

	// Run again, in the same transaction, once the participant answers.
	b.p.Intercept(ledgertest.MethodGetHighestOffsetByTimestamp, nil)
	rw, err := recovery.Plan(ctx, tx, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.Equal(t, "5min", idle(), "Plan run again left the caller's transaction without its idle timeout")
	require.NoError(t, recovery.ApplyTx(ctx, tx, rw))
	require.NoError(t, tx.Commit())
	require.Len(t, rewinds(t, b), 1)
}

// The same when Plan's own context, a bound of the caller's for this call
// only, ends while Plan waits for the participant: the transaction, begun
// with a context of its own and idle meanwhile, is still usable, and Plan
// run again in it must not find the timeout off.
func TestRV161PlanCtxEndedInTxSetsIdleTimeoutBack(t *testing.T) {
	ctx := context.Background()
	b, tx, idle := restoredWithIdleTimeoutTx(t)

	b.p.Intercept(ledgertest.MethodGetHighestOffsetByTimestamp, func(ctx context.Context, _ proto.Message) error {
		<-ctx.Done()
		return ctx.Err()
	})
	pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := recovery.Plan(pctx, tx, b.client, options(recovery.ModeNonUnique))
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, "5min", idle(), "Plan whose context ended left the caller's transaction without its idle timeout")

	b.p.Intercept(ledgertest.MethodGetHighestOffsetByTimestamp, nil)
	rw, err := recovery.Plan(ctx, tx, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.Equal(t, "5min", idle(), "Plan run again left the caller's transaction without its idle timeout")
	require.NoError(t, recovery.ApplyTx(ctx, tx, rw))
	require.NoError(t, tx.Commit())
	require.Len(t, rewinds(t, b), 1)
}

// restoredWithIdleTimeoutTx gives a participant restored from a backup and
// an operator's transaction with its own idle_in_transaction_session_timeout
// ('5min', SET LOCAL), rolled back at the end of the test, and what reads
// that timeout in it.
func restoredWithIdleTimeoutTx(t *testing.T) (*bundle, *sqlx.Tx, func() string) {
	t.Helper()
	b := newBundle(t, ledgertest.WithCheckpointInterval(2*time.Second))
	restoredAfter(t, b, script(60), 20, "")
	tx, err := b.db.BeginTxx(context.Background(), &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })
	_, err = tx.Exec(`SET LOCAL idle_in_transaction_session_timeout = '5min'`)
	require.NoError(t, err)
	return b, tx, func() string {
		var v string
		require.NoError(t, tx.Get(&v, `SHOW idle_in_transaction_session_timeout`))
		return v
	}
}

package withdrawal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A procedure whose context ends while a statement of its waits (here for
// a lock another session holds on the withdrawals) reports that end:
// errors.Is finds context.DeadlineExceeded, not only the driver's
// "canceling statement due to user request" or "bad connection" that lib/pq
// gives for the cancelled statement, so that a caller running the
// procedure under a deadline can tell the two apart.
func TestRestoreProcedureEndedMidStatementReportsTheContext(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	holdings := e.mint("100")
	e.create(e.request("wd-1", "40", holdings[0]))

	lock, err := e.db.BeginTxx(e.ctx, nil)
	require.NoError(t, err)
	defer lock.Rollback()
	_, err = lock.ExecContext(e.ctx, `LOCK TABLE `+schema.Qualify(e.store.Config().Schema, withdrawal.Table)+` IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
	defer cancel()
	restored := false
	_, err = withdrawal.RestoreProcedure{Store: e.store, TTL: ttl, Now: e.world.Now, PollInterval: time.Millisecond, Logger: quietLog,
		Restore: func(context.Context) error { restored = true; return nil }}.Run(ctx)
	require.True(t, restored)
	require.Error(t, err)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "the procedure's context ended mid-statement, but its error does not say so: %v", err)
}

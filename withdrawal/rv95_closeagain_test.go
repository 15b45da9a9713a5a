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

// A procedure whose Restore fails on its own, its context live (no
// deadline at all), and whose closing of the gate again then runs out of
// its own 30 s (another session holds the gate's table) does not say
// that a context ended: errors.Is must find context.DeadlineExceeded only
// when the procedure's context ended (the Guarantees), and a caller
// taking this failure for its deadline would miss that the gate of the
// backup may be open. Since rv94, the Store's writes wrap their own
// context's end, and the closing's error is joined with %w.
func TestRV95ClosingTheGateAgainTimingOutDoesNotBlameALiveContext(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the closing's 30 s")
	}
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})

	lock, err := e.db.BeginTxx(e.ctx, nil)
	require.NoError(t, err)
	defer lock.Rollback()
	_, err = withdrawal.RestoreProcedure{Store: e.store, TTL: ttl, Now: e.world.Now, PollInterval: time.Millisecond, Logger: quietLog,
		Restore: func(context.Context) error {
			_, err := lock.ExecContext(e.ctx, `LOCK TABLE `+schema.Qualify(e.store.Config().Schema, withdrawal.GateTable)+` IN ACCESS EXCLUSIVE MODE`)
			require.NoError(t, err)
			return errors.New("pg_restore: error: could not read input file")
		}}.Run(context.Background())
	require.ErrorContains(t, err, "pg_restore: error: could not read input file")
	require.ErrorContains(t, err, "closing the gate after the failure")
	require.NotErrorIs(t, err, context.DeadlineExceeded, "the procedure's context never ended, but the error says a deadline passed")
}

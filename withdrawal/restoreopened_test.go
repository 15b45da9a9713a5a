package withdrawal_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// onMessage is a slog handler that calls fn the first time msg is logged.
type onMessage struct {
	msg  string
	fn   func()
	once *sync.Once
}

func (h onMessage) Enabled(context.Context, slog.Level) bool { return true }
func (h onMessage) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(h.fn)
	}
	return nil
}
func (h onMessage) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h onMessage) WithGroup(string) slog.Handler      { return h }

// RestoreProcedure.Run "stops at the first step that fails, with that
// step's error, leaving the gate closed". Once step 4 has opened the gate,
// a failure of what follows (here the read of the gate after the opening,
// held up by a lock until the caller's context ends; a dropped connection
// does the same) must not be reported as a failed step 4: the operator
// would take withdrawals for disabled while they are enabled, and run the
// procedure again, closing the gate for another ttl.
func TestRestoreProcedureReportsTheOpeningItMade(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var locked sync.WaitGroup
	var e *env
	opened := onMessage{msg: "withdrawal: gate opened", once: &sync.Once{}, fn: func() {
		// Inside the opening's transaction, before its commit: queue an
		// exclusive lock of the gate, granted when the opening commits.
		conn, err := e.db.Conn(context.Background())
		require.NoError(t, err)
		locked.Add(1)
		go func() {
			defer locked.Done()
			defer conn.Close()
			tx, err := conn.BeginTx(context.Background(), nil)
			if err != nil {
				return
			}
			defer tx.Rollback()
			if _, err := tx.Exec(`LOCK TABLE txhistory.withdrawal_gate IN ACCESS EXCLUSIVE MODE`); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
			cancel()
			time.Sleep(100 * time.Millisecond)
		}()
		require.Eventually(t, func() bool {
			var n int
			err := e.db.Get(&n, `SELECT count(*) FROM pg_locks WHERE NOT granted AND mode = 'AccessExclusiveLock'
				AND relation = 'txhistory.withdrawal_gate'::regclass`)
			return err == nil && n == 1
		}, 10*time.Second, time.Millisecond)
	}}
	e = newEnv(t, withdrawal.Config{Logger: slog.New(opened)}, withdrawal.ReconcilerConfig{})
	e.mint("10")
	tSafe := e.world.Now()
	e.tick(tSafe.Add(time.Minute))

	rep, err := withdrawal.RestoreProcedure{Store: e.store, TSafe: tSafe, PollInterval: time.Millisecond, Logger: quietLog}.Run(ctx)
	locked.Wait()
	g, gerr := e.store.Gate(context.Background())
	require.NoError(t, gerr)
	require.True(t, g.Enabled, "step 4 opened the gate")
	require.NoError(t, err, "Run reports a failure, though the gate is open")
	require.False(t, rep.EnabledAt.IsZero())
	require.Equal(t, g.ChangedAt, rep.EnabledAt)
}

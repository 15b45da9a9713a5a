package withdrawal_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The Submitter contract says Submit runs "from one goroutine at a time",
// and the Automation's docs allow RunOnce beside Run (a manual round, an
// admin endpoint). Two rounds of one Automation at once, on two requested
// withdrawals, must then still call its Submitter one at a time: a
// Submitter written to the contract (one command builder, one nonce, one
// gRPC stream) is not safe for concurrent calls.
func TestSubmitterCalledFromOneGoroutineAtATime(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10", "10")
	e.create(e.request("wd-1", "5", cids[0]))
	e.create(e.request("wd-2", "5", cids[1]))
	e.tick(e.world.Now())

	var inside, overlapped atomic.Int32
	submitter := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		if inside.Add(1) > 1 {
			overlapped.Add(1)
		}
		defer inside.Add(-1)
		select { // long enough for the other round to reach its Submit
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
		}
		return nil
	})
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: submitter, Logger: quietLog})
	require.NoError(t, err)
	rounds := make(chan withdrawal.Round, 2)
	for range 2 {
		go func() {
			r, err := auto.RunOnce(e.ctx)
			if err != nil {
				t.Error(err)
			}
			rounds <- r
		}()
	}
	r1, r2 := <-rounds, <-rounds
	require.Equal(t, 2, r1.Submitted+r2.Submitted)
	require.Zero(t, overlapped.Load(), "the Submitter was called by two goroutines at once")
}

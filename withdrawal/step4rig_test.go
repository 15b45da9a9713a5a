package withdrawal_test

import (
	"context"
	"strings"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
)

// restoreWithStep3End runs the restore procedure on e, with one requested
// withdrawal and ingestion moving on while step 3 waits, and calls
// atStep3End once, when step 3 is over and before step 4 opens the gate.
// It returns whether atStep3End was called and what Run returned.
func restoreWithStep3End(e *env, atStep3End func()) (called bool, err error) {
	cids := e.mint("10")
	e.create(e.request("wd-1", "5", cids[0]))
	ledgerNow := e.world.Now()

	p := withdrawal.RestoreProcedure{
		Store:        e.store,
		TTL:          ttl,
		Now:          func() time.Time { return ledgerNow },
		PollInterval: time.Millisecond,
		Logger:       quietLog,
		Restore:      func(ctx context.Context) error { return nil },
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepWait && !pr.Done && pr.Waited > 0 {
				e.tick(e.times[e.world.SynchronizerID].Add(ttl / 2)) // ingestion moves on
			}
			if pr.Step == withdrawal.StepWait && pr.Done && !called && strings.HasPrefix(pr.Message, "ingested record time") {
				called = true
				atStep3End()
			}
		},
	}
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	_, err = p.Run(ctx)
	return called, err
}

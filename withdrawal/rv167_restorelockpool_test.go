package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
)

// A pool of two connections is enough for an Ingester (its lock holds one,
// its batches share the other) and, before the restore lock, for a
// RestoreProcedure on the same pool whose Restore starts ingestion again,
// as the runbook's restore step does: the procedure's statements shared the
// second connection with the batches. The restore lock must not take that
// connection for the whole restore: the procedure then waits for a
// connection until ctx ends, and ingestion with it.
func TestRV167RestoreLockOnAPoolOfTwoWithIngestion(t *testing.T) {
	db := pgtest.NewDB(t)
	l := newLive(t, db, withdrawal.ReconcilerConfig{})
	l.mintAndCatchUp("50")
	l.stopIngester()
	db.SetMaxOpenConns(2)

	reached := make(chan struct{})
	var once bool
	p := withdrawal.RestoreProcedure{
		Store: l.store, TSafe: l.now, PollInterval: 10 * time.Millisecond, Logger: quietLog,
		Restore: func(ctx context.Context) error {
			// Restored already (nothing to restore here); ingestion starts
			// again on the same pool, as the runbook's restore step says.
			l.startIngester()
			time.Sleep(200 * time.Millisecond) // its lock taken
			return nil
		},
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepWait && !once {
				once = true
				close(reached)
			}
		},
	}
	ctx, cancel := context.WithTimeout(l.ctx, 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := p.Run(ctx); done <- err }()
	select {
	case <-reached:
	case err := <-done:
		t.Fatalf("the procedure ended before step 3: %v", err)
	case <-ctx.Done():
		t.Fatalf("the procedure did not reach step 3 within 10 s on a pool of two beside an Ingester (pool: %+v)", db.Stats())
	}
	cancel()
	<-done
}

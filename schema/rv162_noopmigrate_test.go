package schema_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/schema"
)

// Every start runs Migrate (ingestd's -migrate, the default; an exchange's
// API servers as the package doc says), mostly on a schema already at this
// build's version. With nothing to apply it must not wait for the
// transactions that hold the version (a withdrawal Automation's submission
// in flight, up to its SubmitTimeout, a minute by default): while it waits
// for the migration lock, every ingestion batch and withdrawal.Store write
// that checks the version queues behind it, so a pod's restart stalled
// them all for up to that long.
func TestRV162UpToDateMigrateDoesNotWaitForTheVersionsHolders(t *testing.T) {
	ctx := context.Background()
	db, opt := migratedDB(t, "noop")

	submission, err := db.BeginTxx(ctx, nil)
	must(t, err)
	defer func() { _ = submission.Rollback() }()
	must(t, schema.CheckCurrentTx(ctx, submission, opt))

	mctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := schema.Migrate(mctx, db, opt); err != nil {
		t.Fatalf("Migrate of an up-to-date schema waited for a transaction holding its version: %v", err)
	}

	// A batch checking the version meanwhile is not held up either.
	batch, err := db.BeginTxx(ctx, nil)
	must(t, err)
	defer func() { _ = batch.Rollback() }()
	bctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	must(t, schema.CheckCurrentTx(bctx, batch, opt))
}

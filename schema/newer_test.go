package schema_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
)

// A binary older than the schema it is pointed at (a rollback of the
// deployment, or a standby left on the previous release) must not go on as
// if the schema were its own: Migrate is what ingestd and every embedding
// application call at startup, and a nil error lets the old code write
// tables whose meaning a newer migration changed. The damage outlives the
// rollback: when the newer release comes back, its migrations are recorded
// as applied and their backfills do not run again over what the old build
// wrote. 008's backfill is the example: it exists because a build before
// 008 hands withdrawals to the Submitter without recording the attempt; a
// v7 build run on a v9 schema does exactly that, and after the roll
// forward nothing counts those attempts, so the Automation may fail and
// refund a withdrawal whose transfer can still commit.
func TestMigrateRefusesASchemaNewerThanThisBuild(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	must(t, schema.Migrate(ctx, db))
	newer := schema.Latest() + 1
	// As a newer release records the migration this build lacks.
	mustExec(t, db, `INSERT INTO txhistory.txhistory_migration (version, name) VALUES ($1, 'from_a_newer_release')`, newer)

	err := schema.Migrate(ctx, db)
	if err == nil {
		t.Fatalf("Migrate on a schema at version %03d with a build that knows up to %03d: got nil, want a refusal (ErrUnknownVersion)", newer, schema.Latest())
	}
	if !errors.Is(err, schema.ErrUnknownVersion) || !strings.Contains(err.Error(), fmt.Sprintf("%03d", newer)) {
		t.Fatalf("got %v, want ErrUnknownVersion naming version %03d", err, newer)
	}
}

package main

import (
	"context"
	"strconv"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// TestMigrateToAVersionThisBuildDoesNotKnow: docs/OPERATIONS.md exits 2
// for "a missing or malformed setting". -migrate-to above this build's
// latest version can never be applied (schema.WithTargetVersion refuses it),
// which is known before the database is reached, yet validate only refuses
// values below -1: the run connects, migrate fails with schema's "target
// version out of range" and ingestd exits 1, as after a fatal ingestion
// error, and a deploy step cannot tell a typo from a database fault.
func TestMigrateToAVersionThisBuildDoesNotKnow(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, schema.Migrate(context.Background(), db))
	logs := &syncbuf.Buffer{}
	code := run([]string{"-migrate-only", "-migrate-to", strconv.Itoa(schema.Latest() + 1)}, envOf(map[string]string{conn.EnvDSN: dsn}), logs, nil, nil)
	require.Equal(t, 2, code, "exit status for -migrate-to %d (this build knows up to %d):\n%s", schema.Latest()+1, schema.Latest(), logs.String())
}

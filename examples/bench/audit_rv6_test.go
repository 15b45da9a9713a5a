package main

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/require"
)

// TestAuditNaiveSameRowsAsE2E: the naive baseline claims "the same work" as
// the Ingester with the handler chain. Over the same ledger both must leave
// the same rows in every table (ignoring the now() timestamps and serial
// ids), not merely the same counts (checkHistory).
func TestAuditNaiveSameRowsAsE2E(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 300
	db := pgtest.NewDB(t)
	treasury := "treasury::1220bench"
	f, err := startFake(ctx, childConfig{Treasury: treasury, N: n, Cache: true, Warm: true})
	require.NoError(t, err)
	defer f.Close()
	b := &bench{db: db, treasury: treasury, logger: quietLogger(), progress: testWriter{t}, keepSchemas: true}
	_, err = b.ingestAll(ctx, f, "e2e", false, nil)
	require.NoError(t, err)
	_, err = b.naive(ctx, f, n)
	require.NoError(t, err)
	require.Len(t, b.kept, 2)
	e2e, naive := b.kept[0], b.kept[1]

	var tables []string
	require.NoError(t, db.SelectContext(ctx, &tables, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = $1 AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'schema_migration%' ORDER BY 1`, e2e))
	require.NotEmpty(t, tables)
	// A row as JSON without its serial id and its wall-clock timestamps.
	rows := func(s, table string) string {
		return `SELECT (SELECT jsonb_object_agg(k, v) FROM jsonb_each(to_jsonb(r)) AS e(k, v)
			WHERE k <> 'id' AND k NOT LIKE '%\_at') AS j FROM ` + s + `.` + table + ` AS r`
	}
	for _, table := range tables {
		var count, onlyE2E, onlyNaive int
		require.NoError(t, db.GetContext(ctx, &count, `SELECT count(*) FROM `+e2e+`.`+table))
		require.NoError(t, db.GetContext(ctx, &onlyE2E, `SELECT count(*) FROM (`+rows(e2e, table)+` EXCEPT ALL `+rows(naive, table)+`) x`))
		require.NoError(t, db.GetContext(ctx, &onlyNaive, `SELECT count(*) FROM (`+rows(naive, table)+` EXCEPT ALL `+rows(e2e, table)+`) x`))
		t.Logf("%s: %d rows, %d only in e2e, %d only in naive", table, count, onlyE2E, onlyNaive)
		require.Zero(t, onlyE2E+onlyNaive, "table %s differs between e2e and naive", table)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

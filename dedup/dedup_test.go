package dedup_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func tx(id string, off int64, rt time.Time) *ledger.Transaction {
	return &ledger.Transaction{UpdateID: id, Offset: off, RecordTime: rt, SynchronizerID: "s"}
}

// migratedStore returns a fresh migrated database and the dedup store of
// its default schema.
func migratedStore(t testing.TB) (*sqlx.DB, *dedup.Store) {
	t.Helper()
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(context.Background(), db))
	s, err := dedup.NewStore(schema.DefaultName)
	require.NoError(t, err)
	return db, s
}

func TestClaimReturnsOnlyNewTransactions(t *testing.T) {
	ctx := context.Background()
	db, s := migratedStore(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	claim := func(txs ...*ledger.Transaction) []string {
		t.Helper()
		sqlTx := db.MustBegin()
		fresh, err := s.ClaimTx(ctx, sqlTx, txs)
		require.NoError(t, err)
		require.NoError(t, sqlTx.Commit())
		var ids []string
		for _, f := range fresh {
			ids = append(ids, f.UpdateID)
		}
		return ids
	}
	require.Equal(t, []string{"a", "b"}, claim(tx("a", 1, t0), tx("b", 2, t0)))
	// Same record time, partly ingested: only the new ones come back, in order.
	require.Equal(t, []string{"c", "d"}, claim(tx("a", 11, t0), tx("c", 12, t0), tx("b", 13, t0), tx("d", 14, t0)))
	// A duplicate inside one batch is returned once.
	require.Equal(t, []string{"e"}, claim(tx("e", 15, t0), tx("e", 16, t0)))
	require.Empty(t, claim())

	ok, err := s.Contains(ctx, db, "c")
	require.NoError(t, err)
	require.True(t, ok)
	off, found, err := s.OffsetOf(ctx, db, "a")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, int64(1), off, "the first ingestion's offset is kept")
	_, found, err = s.OffsetOf(ctx, db, "zzz")
	require.NoError(t, err)
	require.False(t, found)
	n, err := s.Count(ctx, db)
	require.NoError(t, err)
	require.Equal(t, int64(5), n)

	since, err := s.Since(ctx, db, t0)
	require.NoError(t, err)
	require.Len(t, since, 5)

	// A rolled-back claim leaves nothing behind.
	sqlTx := db.MustBegin()
	_, err = s.ClaimTx(ctx, sqlTx, []*ledger.Transaction{tx("f", 20, t0.Add(time.Hour))})
	require.NoError(t, err)
	require.NoError(t, sqlTx.Rollback())
	ok, _ = s.Contains(ctx, db, "f")
	require.False(t, ok)

	pruned, err := s.PruneBefore(ctx, db, t0.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, int64(5), pruned)
}

// TestRecordTimeQueriesThroughTheIndex checks Since and PruneBefore on a
// table where record times mostly rise with the offset but not always (two
// synchronizers, a repair's older record times), with the planner made to
// use the record-time index (a lossy BRIN index since schema 005): the
// answers must be those of a scan.
func TestRecordTimeQueriesThroughTheIndex(t *testing.T) {
	ctx := context.Background()
	db, s := migratedStore(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	const n = 20000
	var txs []*ledger.Transaction
	want := map[bool]int{} // record time at or after the cut → count
	cut := t0.Add(15000 * time.Second)
	for i := range n {
		rt := t0.Add(time.Duration(i) * time.Second)
		if i%997 == 0 {
			rt = t0.Add(time.Duration(i/10) * time.Second) // a repair's older record time, far back
		}
		if i%2 == 1 {
			rt = rt.Add(-time.Millisecond) // the other synchronizer runs a little behind
		}
		tr := tx(fmt.Sprintf("u%05d", i), int64(i+1), rt)
		tr.SynchronizerID = []string{"s1", "s2"}[i%2]
		txs = append(txs, tr)
		want[!rt.Before(cut)]++
	}
	sqlTx := db.MustBegin()
	for i := 0; i < n; i += 1000 {
		_, err := s.ClaimTx(ctx, sqlTx, txs[i:i+1000])
		require.NoError(t, err)
	}
	require.NoError(t, sqlTx.Commit())
	_, err := db.ExecContext(ctx, `VACUUM ANALYZE `+schema.Qualify(schema.DefaultName, "ingested_update"))
	require.NoError(t, err)

	conn, err := db.Connx(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, `SET enable_seqscan = off`)
	require.NoError(t, err)
	var plan []string
	require.NoError(t, conn.SelectContext(ctx, &plan, `EXPLAIN SELECT update_id FROM `+schema.Qualify(schema.DefaultName, "ingested_update")+` WHERE record_time >= $1`, cut))
	require.Contains(t, strings.Join(plan, "\n"), "ingested_update_record_time_brin")

	since, err := s.Since(ctx, conn, cut)
	require.NoError(t, err)
	require.Len(t, since, want[true])
	for i, in := range since {
		require.False(t, in.RecordTime.Before(cut), in.UpdateID)
		if i > 0 {
			require.False(t, in.RecordTime.Before(since[i-1].RecordTime), "Since is in record time order")
		}
	}
	pruned, err := s.PruneBefore(ctx, conn, cut)
	require.NoError(t, err)
	require.Equal(t, int64(want[false]), pruned)
	left, err := s.Count(ctx, conn)
	require.NoError(t, err)
	require.Equal(t, int64(want[true]), left)
}

// BenchmarkClaim claims batches of 1,000 new update ids, each in a
// transaction of its own, as the Ingester does for a full batch.
func BenchmarkClaim(b *testing.B) {
	ctx := context.Background()
	db, s := migratedStore(b)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 1000
	txs := make([]*ledger.Transaction, n)
	off := int64(0)
	b.ResetTimer()
	for b.Loop() {
		for i := range txs {
			off++
			txs[i] = tx(fmt.Sprintf("update-%012d", off), off, t0.Add(time.Duration(off)*time.Millisecond))
		}
		sqlTx, err := db.BeginTxx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		fresh, err := s.ClaimTx(ctx, sqlTx, txs)
		if err != nil || len(fresh) != n {
			b.Fatalf("claimed %d of %d: %v", len(fresh), n, err)
		}
		if err := sqlTx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/tx")
}

package dedup_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func tx(id string, off int64, rt time.Time) *ledger.Transaction {
	return &ledger.Transaction{UpdateID: id, Offset: off, RecordTime: rt, SynchronizerID: "s"}
}

func TestClaimReturnsOnlyNewTransactions(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(ctx, db))
	s, err := dedup.NewStore(schema.DefaultName)
	require.NoError(t, err)
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

package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// How ingestion and a replay (every transaction dropped by dedup) grow
// with the size of a group sharing one record time, against the same
// number of transactions at distinct record times (logged, not asserted).
func TestRV69GroupCost(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	for _, n := range []int{1000, 4000} {
		for _, group := range []bool{false, true} {
			b := setup(t)
			appendN(t, b.p, 0, 10)
			if group {
				at := b.p.Transactions()[9].RecordTime.Add(time.Second)
				appendGroup(t, b.p, 10, n, at)
			} else {
				appendN(t, b.p, 10, n)
			}
			start := time.Now()
			runToEnd(t, b, ingest.Config{MaxBatchSize: 100})
			first := time.Since(start)
			rewindToStart(t, b, readState(t, b.db).Checkpoint.Offset)
			start = time.Now()
			ing := newIngester(t, b, ingest.Config{MaxBatchSize: 100, EndOffset: b.p.LedgerEnd()})
			require.NoError(t, ing.Run(context.Background()))
			t.Logf("n=%d group=%t: ingest %s, replay %s (%d skipped)", n, group, first, time.Since(start), ing.Stats().Skipped)
			requireAllOnce(t, b)
		}
	}
}

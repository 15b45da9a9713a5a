package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
)

// byIDServer is a scriptedServer that also answers GetUpdateById, as the
// Ingester asks on a restart for the last transaction it ingested.
type byIDServer struct{ scriptedServer }

func (s *byIDServer) GetUpdateById(_ context.Context, r *lapiv2.GetUpdateByIdRequest) (*lapiv2.GetUpdateResponse, error) {
	for _, tx := range s.txs {
		if tx.GetUpdateId() == r.GetUpdateId() {
			return &lapiv2.GetUpdateResponse{Update: &lapiv2.GetUpdateResponse_Transaction{Transaction: tx}}, nil
		}
	}
	return nil, fmt.Errorf("no update %s", r.GetUpdateId())
}

// A participant sends record times finer than PostgreSQL's microseconds:
// u1 at 900 ns past the second, u2 50 ns later. PostgreSQL rounds u1's to
// the next microsecond when it stores the checkpoint, so that, after a
// restart, u2's record time would go back before the one ingested: Run
// must not take that for a participant restored from a backup.
func TestRV41SubMicrosecondRecordTimesAreNotARestore(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 900, time.UTC)
	var txs []*lapiv2.Transaction
	for i, rt := range []time.Time{t0, t0.Add(50 * time.Nanosecond)} {
		tx := simpleTx(treasury, i+1)
		tx.Offset, tx.UpdateID, tx.SynchronizerID, tx.RecordTime = int64(i+1), fmt.Sprintf("u%d", i+1), "sync::1", rt
		txs = append(txs, tx.Proto())
	}
	lis := serveLedger(t, &byIDServer{scriptedServer{txs: txs}})
	db, dsn := newEffectsDB(t)
	b := &testBundle{db: db, dsn: dsn, client: dial(t, lis.Addr().String(), nil)}
	for _, end := range []int64{1, 2} { // a restart after u1
		ing := newIngester(t, b, ingest.Config{EndOffset: end, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxAttempts: 3})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := ing.Run(ctx)
		cancel()
		require.NoError(t, err, "Run up to offset %d", end)
		require.Equal(t, end, readState(t, db).Checkpoint.Offset)
	}
	var applied []string
	require.NoError(t, db.Select(&applied, `SELECT update_id FROM effects ORDER BY ledger_offset`))
	require.Equal(t, []string{"u1", "u2"}, applied)
}

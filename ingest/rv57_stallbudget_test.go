package ingest_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A transaction bigger than StreamBufferBytes is read alone: the reading
// of the next update waits until its batch has committed. While it waits
// the Ingester itself reads nothing, and a participant sending all along
// is no silent stream: a commit that takes longer than StallTimeout must
// not be taken for a stall, which reconnects the stream and counts a
// stream fault. (The StallTimeout leaves time to receive and decode the
// big transaction under -race on a busy machine: 300 ms did not, and the
// test saw stalls of its own making.)
func TestStallTimeoutNotWhileReadingWaitsForBudget(t *testing.T) {
	b := setup(t, ledgertest.WithCheckpointInterval(20*time.Millisecond))
	appendN(t, b.p, 0, 5)
	big, err := b.p.Append(bigTx(1, 2000)) // about 200 KB, over the 64 KiB below
	require.NoError(t, err)
	appendN(t, b.p, 10, 5)
	var logs syncbuf.Buffer
	slow := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
		for _, t := range bt.Transactions {
			if t.UpdateID == big[0].UpdateID {
				time.Sleep(4 * time.Second) // longer than the StallTimeout
			}
		}
		return effectsHandler(ctx, tx, bt)
	})
	ing := newIngester(t, b, ingest.Config{Handler: slow, StallTimeout: 1500 * time.Millisecond, StreamBufferBytes: 64 << 10,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	cps, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	for {
		cp, _, err := cps.Get(ctx, b.db)
		require.NoError(t, err)
		if cp.Offset >= b.p.LedgerEnd() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	ing.Stop()
	require.NoError(t, <-done)
	requireAllOnce(t, b)
	require.NotContains(t, logs.String(), "stalled", "a stall was declared while the Ingester waited for its own commit")
	require.Zero(t, ing.Stats().Errors["stream"], "stream faults: %v", ing.Stats().Errors)
}

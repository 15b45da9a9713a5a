package ingest

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// TestTxPerSecondAfterIdle: Stats.TxPerSecond (txhistory_transactions_per_second,
// the tx_per_s of ingestd's progress lines) is the rate over about the
// last ten seconds. Once nothing has been committed for longer than that
// (a quiet ledger, or ingestion stuck) it is 0, not the rate of the last
// burst; and the first commit after the pause does not bring that burst's
// rate back either.
func TestTxPerSecondAfterIdle(t *testing.T) {
	var r statsRecorder
	batch := &builder{txs: make([]*ledger.Transaction, 500)}
	r.committed(batch, 0, time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	r.committed(batch, 0, time.Millisecond)
	burst := r.snapshot().TxPerSecond
	require.Greater(t, burst, 1000.0, "500 transactions in about 50 ms")

	// Eleven seconds without a commit.
	r.mu.Lock()
	for i := range r.window {
		r.window[i].at = r.window[i].at.Add(-11 * time.Second)
	}
	r.s.LastCommit = r.s.LastCommit.Add(-11 * time.Second)
	r.mu.Unlock()
	require.Zero(t, r.snapshot().TxPerSecond, "nothing committed for 11 s, yet the rate is the burst's")

	// One transaction after the pause.
	r.committed(&builder{txs: make([]*ledger.Transaction, 1)}, 0, time.Millisecond)
	require.Less(t, r.snapshot().TxPerSecond, 1.0, "one transaction in the last ten seconds, yet the rate is the burst's (%.0f)", burst)
}

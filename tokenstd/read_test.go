package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// readMode says how pipelined tells HandleBatch about the early read.
type readMode int

const (
	readEarly      readMode = iota // as the Ingester does: early, after the batch before
	readOtherStart                 // early, but the batch does not follow the one handled last
	readStale                      // wrongly said not early: the read is used as it is; a failing batch ends the run
)

// pipelined applies the transactions in batches of n as the Ingester's
// pipeline does: each batch's ReadBatch runs in its own SQL transaction
// while the batch before has written its rows but not committed, and its
// HandleBatch once that batch has committed. The handlers of hs take the
// batches in turn.
func (b *historyBundle) pipelined(t *testing.T, hs []*tokenstd.History, list []*ledger.Transaction, n int, mode readMode) {
	t.Helper()
	type open struct {
		tx    *sqlx.Tx
		batch *ingest.Batch
	}
	var prev *open
	from := list[0].Offset - 1
	for k, start := 0, 0; start < len(list); k, start = k+1, start+n {
		h := hs[k%len(hs)]
		end := min(start+n, len(list))
		batch := &ingest.Batch{Transactions: list[start:end], FromOffset: from, ToOffset: list[end-1].Offset}
		from = batch.ToOffset
		tx, err := b.db.BeginTxx(b.ctx, nil)
		require.NoError(t, err)
		read, err := h.ReadBatch(b.ctx, tx, batch)
		require.NoError(t, err)
		if prev != nil {
			require.NoError(t, prev.tx.Commit())
		}
		switch mode {
		case readEarly:
			batch = batch.WithRead(read, prev != nil)
		case readOtherStart:
			batch.FromOffset--
			batch = batch.WithRead(read, prev != nil)
		case readStale:
			batch = batch.WithRead(read, false)
		}
		err = h.HandleBatch(b.ctx, tx, batch)
		if mode == readStale && err != nil {
			require.NoError(t, tx.Rollback())
			return
		}
		require.NoError(t, err, "batch at offsets %d..%d", batch.FromOffset, batch.ToOffset)
		prev = &open{tx: tx, batch: batch}
	}
	require.NoError(t, prev.tx.Commit())
}

// TestTokenHistoryEarlyReadsEqualPlain: a History whose reads run before
// the batch before has committed writes what one reading after the commit
// writes: it adds that batch's holdings and instructions to what it read,
// or reads again when it cannot tell what that batch wrote. The stale reads
// used as they are would give other rows, which shows that the reads were
// stale.
func TestTokenHistoryEarlyReadsEqualPlain(t *testing.T) {
	_, view := demo(t, 250)
	cfg := tokenstd.Config{Credit: creditor("acct-unknown")}
	plain := setupHistory(t)
	require.NoError(t, plain.handle(t, newHistory(t, cfg), view, 25))
	want := plain.snapshot(t)

	for _, n := range []int{1, 7, 25} {
		for _, mode := range []readMode{readEarly, readOtherStart} {
			b := setupHistory(t)
			b.pipelined(t, []*tokenstd.History{newHistory(t, cfg)}, view, n, mode)
			require.Equal(t, want, b.snapshot(t), "batches of %d, mode %d", n, mode)
		}
		// Two handlers in turn: each handled the batch before the one
		// before, so neither knows what the batch before wrote.
		b := setupHistory(t)
		b.pipelined(t, []*tokenstd.History{newHistory(t, cfg), newHistory(t, cfg)}, view, n, readEarly)
		require.Equal(t, want, b.snapshot(t), "batches of %d, two handlers in turn", n)
	}

	stale := setupHistory(t)
	h := newHistory(t, cfg)
	stale.pipelined(t, []*tokenstd.History{h}, view, 1, readStale)
	require.NotEqual(t, want, stale.snapshot(t), "the reads used as they are differ: they were read before the batch before committed")
}

package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// Reference, errors table: pruning that runs while a stream is open ends
// it, with the pruned error if the stream's position is now below the
// pruning offset. The PrunedError then names that position, the offset
// the stream would resume from, not the begin offset it was opened at:
// the ingestion's error must name the offset that was pruned.
func TestPrunedMidStreamNamesTheStreamsPosition(t *testing.T) {
	ctx := context.Background()
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(time.Hour))
	require.NoError(t, err)
	defer p.Close()
	for range 5 {
		_, err := p.Append(holdingTx(treasury, "1"))
		require.NoError(t, err)
	}
	c := newClient(t, p)
	p.SetDelay(100 * time.Millisecond) // the stream is mid-range when pruning runs
	s, err := c.Updates(ctx, ledger.UpdatesRequest{EndInclusive: 5, Filter: ledger.Filter{Parties: []string{treasury}}})
	require.NoError(t, err)
	defer s.Close()
	var last int64
	for last < 2 {
		u, err := s.Recv()
		require.NoError(t, err)
		last = u.Offset()
	}
	require.NoError(t, p.Prune(4))
	for {
		u, err := s.Recv()
		if err != nil {
			var pe *ledger.PrunedError
			require.True(t, errors.As(err, &pe), "%v", err)
			require.Less(t, last, int64(4), "the stream read past the pruning offset before it ran")
			require.Equal(t, int64(4), pe.EarliestOffset)
			require.Equal(t, last, pe.Requested, "%v", err)
			require.Contains(t, pe.Error(), fmt.Sprintf("offset %d was pruned", last))
			return
		}
		last = u.Offset()
	}
}

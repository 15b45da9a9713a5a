package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// UpdatesRequest.EndInclusive 0 tails the ledger; a negative one, which a
// participant refuses (INVALID_ARGUMENT NON_POSITIVE_OFFSET), was sent as
// no end at all: a caller whose end offset came out negative (an empty
// ledger's end minus one) waited forever on a tailing stream instead of
// getting an error, as it does for a negative BeginExclusive.
func TestUpdatesRefusesANegativeEndOffset(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Append(holdingTx(treasury, "1"))
	require.NoError(t, err)
	c := newClient(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	s, err := c.Updates(ctx, ledger.UpdatesRequest{EndInclusive: -1, Filter: ledger.Filter{Parties: []string{treasury}}})
	if err == nil {
		defer s.Close()
		_, _ = s.Recv() // the request reaches the participant
		reqs := p.Requests()
		require.NotEmpty(t, reqs)
		t.Fatalf("Updates accepted EndInclusive -1 and asked the participant for end_inclusive %v (nil: tail forever)", reqs[len(reqs)-1].EndInclusive)
	}
	require.ErrorContains(t, err, "end offset -1")
}

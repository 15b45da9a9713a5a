package ingest_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// slowFirstEnd is a Source whose first LedgerEnd answer is held back
// until released: a slow participant reply overtaken by a later call.
type slowFirstEnd struct {
	*ledger.Client
	first   chan struct{} // closed once the first call has its answer
	release chan struct{}
	calls   int
}

func (s *slowFirstEnd) LedgerEnd(ctx context.Context) (int64, error) {
	s.calls++
	n := s.calls
	end, err := s.Client.LedgerEnd(ctx)
	if n == 1 {
		close(s.first)
		<-s.release
	}
	return end, err
}

// Two LedgerEndLag calls at once (a metrics scrape and a health probe):
// the one asked first and answered last measured an older ledger end, and
// its lag overwrote the newer one in Stats, so an ingester falling behind
// showed the smaller lag until the next call.
func TestLedgerEndLagKeepsTheNewestMeasure(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 5)
	src := &slowFirstEnd{Client: b.client, first: make(chan struct{}), release: make(chan struct{})}
	ing, err := ingest.New(b.db, src, ingest.Config{Parties: []string{treasury}, Handler: effectsHandler, Logger: quietLog})
	require.NoError(t, err)
	ctx := context.Background()

	type answer struct {
		lag int64
		err error
	}
	old := make(chan answer, 1)
	go func() {
		lag, err := ing.LedgerEndLag(ctx)
		old <- answer{lag, err}
	}()
	<-src.first // the first call has its answer: ledger end 5
	appendN(t, b.p, 5, 10)
	newer, err := ing.LedgerEndLag(ctx)
	require.NoError(t, err)
	close(src.release)
	first := <-old
	require.NoError(t, first.err)
	require.Less(t, first.lag, newer)
	require.Equal(t, newer, ing.Stats().LedgerEndLag, "Stats keeps the lag asked last, not the one answered last")
}

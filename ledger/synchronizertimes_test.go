package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// SynchronizerTimes lists what the first OffsetCheckpoint at the ledger end
// names: every synchronizer the participant has a record time of, also one
// with no transaction of the filter's parties, with its latest record time.
func TestSynchronizerTimesListsEverySynchronizer(t *testing.T) {
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(20 * time.Millisecond))
	require.NoError(t, err)
	defer p.Close()
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	w := &ledgertest.TokenWorld{}
	mine, others := w.Mint("treasury::1", "1"), w.Mint("someone::2", "2")
	others.SynchronizerID = "other-domain::1220bb"
	mine.RecordTime = ledgertest.DefaultStartTime.Add(time.Second)
	others.RecordTime = ledgertest.DefaultStartTime.Add(2 * time.Second)
	_, err = p.Append(mine, others)
	require.NoError(t, err)

	got, err := c.SynchronizerTimes(ctx, ledger.Filter{Parties: []string{"treasury::1"}})
	require.NoError(t, err)
	require.Equal(t, []ledger.SynchronizerTime{
		{SynchronizerID: ledgertest.DefaultSynchronizer, RecordTime: mine.RecordTime},
		{SynchronizerID: "other-domain::1220bb", RecordTime: others.RecordTime},
	}, got)

	// A participant that never sends the checkpoint: the call ends with
	// ctx, saying so (as ctx's error, or the participant's DeadlineExceeded
	// when its cut of the stream is seen before ctx reports its end).
	p.StallStreams(true)
	short, stop := context.WithTimeout(ctx, 200*time.Millisecond)
	defer stop()
	_, err = c.SynchronizerTimes(short, ledger.Filter{Parties: []string{"treasury::1"}})
	require.ErrorContains(t, err, "DeadlineExceeded")
}

package ledger_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// A stream at the ledger end that the participant (or a proxy closing an
// idle stream) ends with status OK before the OffsetCheckpoint that
// SynchronizerTimes waits for: the call got no list. It returned the bare
// io.EOF, which a caller takes for a clean end and ledger.IsRetryable for
// a fault not to retry (recovery.Plan failed with "EOF"). It must fail
// with an error that says so and that is retried, as a broken stream.
func TestRV126SynchronizerTimesStreamEndedWithOK(t *testing.T) {
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(20 * time.Millisecond))
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Append(memoTx("00c1", "small"))
	require.NoError(t, err)
	ended := grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return endedStream{s}, nil
	})
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}, DialOptions: []grpc.DialOption{ended}})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err = c.SynchronizerTimes(ctx, ledger.Filter{Parties: []string{treasury}})
	require.Error(t, err)
	require.NotErrorIs(t, err, io.EOF, "a call that got no answer reports a clean end: %v", err)
	require.True(t, ledger.IsRetryable(err), "not retried: %v", err)
	require.ErrorContains(t, err, "OffsetCheckpoint")
}

// endedStream ends at once with status OK (io.EOF to the client).
type endedStream struct{ grpc.ClientStream }

func (endedStream) RecvMsg(any) error { return io.EOF }

package recovery_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// The read of the treasury's transactions for a synchronizer the
// Integration DB never saw, ended cleanly (status OK, io.EOF to the
// client) by a proxy before its end offset: the end of a stream proves
// nothing about what it did not deliver. Plan took it for the end of the
// read, found no transaction on the synchronizer, kept offRecovery and
// skipped the deposit the restored participant numbers below it. It must
// resume after what it read, as after a broken stream.
func TestRV126UnseenSynchronizerScanEndedWithOKIsResumed(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	var txs []step
	for i := 1; i <= 40; i++ {
		txs = append(txs, step{n: i})
	}
	play(t, b.p, txs[:20])
	backup := b.p.Backup()
	play(t, b.p, txs[20:])
	ingestTo(t, b, b.p.LedgerEnd())
	_, err := b.p.Append(txOn(41, thirdSynchronizer)) // a deposit, after ingestion stopped
	require.NoError(t, err)
	b.p.Restore(backup, ledgertest.WithSynchronizersFirst(thirdSynchronizer))
	require.Less(t, offsetOf(t, b.p, "tx-00041"), offsetOf(t, b.p, "tx-00021"), "the restored participant did not number the deposit below the last ingested transaction")

	// Every stream ends with status OK after 10 messages.
	c, err := ledger.Dial(ledger.Config{
		LedgerAPI:   ledger.Endpoint{Target: b.p.Addr(), Insecure: true},
		Admin:       ledger.Endpoint{Target: b.p.AdminAddr(), Insecure: true},
		DialOptions: []grpc.DialOption{endStreamsWithOK(10)},
	})
	require.NoError(t, err)
	defer c.Close()
	opts := options(recovery.ModeNonUnique)
	opts.Timeout = 10 * time.Second
	rw, err := recovery.Plan(ctx, b.db, c, opts)
	require.NoError(t, err)
	require.NotNil(t, rw.UnknownScan, "%s", rw)
	require.Equal(t, offsetOf(t, b.p, "tx-00041"), rw.UnknownScan.First, "%s", rw)
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	ingestTo(t, b, b.p.LedgerEnd())
	h := readHistory(t, b.db)
	require.Empty(t, h.Duplicates)
	require.Len(t, h.Rows, 41, "the deposit was skipped: offRecovery %d (%s)", rw.To, rw)
}

// endStreamsWithOK ends every stream with status OK (io.EOF to the client)
// after n messages, as a proxy closing it cleanly.
func endStreamsWithOK(n int) grpc.DialOption {
	return grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return &endingStream{ClientStream: s, left: n}, nil
	})
}

type endingStream struct {
	grpc.ClientStream
	left int
}

func (s *endingStream) RecvMsg(m any) error {
	if s.left == 0 {
		return io.EOF
	}
	s.left--
	return s.ClientStream.RecvMsg(m)
}

package ledger_test

import (
	"context"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"
)

// BenchmarkStreamTransfers receives and decodes a ledger of 1-step transfers
// from an in-process fake participant over loopback gRPC, as the bench's
// ceiling phase does, once with the client's buffer pool and once with
// gRPC's default one (which clears every buffer it hands out). Both ends run
// in this process: ns/tx is wall time and cpu-ns/tx the process's CPU time
// (user and system) per transaction, the fake's sending included.
//
//	go test -run '^$' -bench StreamTransfers -count 6 ./ledger/
func BenchmarkStreamTransfers(b *testing.B) {
	const n = 20_000
	p, err := ledgertest.New(ledgertest.WithWireCache())
	require.NoError(b, err)
	b.Cleanup(p.Close)
	h := ledgertest.TransferHistory{Treasury: treasury}
	require.NoError(b, p.AppendFunc(n, h.Tx))

	pools := []struct {
		name string
		opts []grpc.DialOption
	}{
		{"pool=client", nil},
		{"pool=grpc-default", []grpc.DialOption{experimental.WithBufferPool(mem.DefaultBufferPool())}},
	}
	for _, pool := range pools {
		c, err := ledger.Dial(ledger.Config{
			LedgerAPI:   ledger.Endpoint{Target: p.Addr(), Insecure: true},
			DialOptions: pool.opts,
		})
		require.NoError(b, err)
		drain := func() int {
			st, err := c.Updates(context.Background(), ledger.UpdatesRequest{EndInclusive: p.LedgerEnd(),
				Filter: ledger.Filter{Parties: []string{treasury}}})
			require.NoError(b, err)
			defer st.Close()
			got := 0
			for {
				u, err := st.Recv()
				if err == io.EOF {
					return got
				}
				require.NoError(b, err)
				if u.Kind == ledger.UpdateTransaction {
					got++
				}
			}
		}
		require.Equal(b, n, drain(), "the warm-up stream (fills the fake's cache)")
		b.Run(pool.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				if got := drain(); got != n {
					b.Fatalf("received %d transactions, want %d", got, n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/tx")
			b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N*n), "cpu-ns/tx")
		})
		require.NoError(b, c.Close())
	}
}

// processCPU is the CPU time this process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

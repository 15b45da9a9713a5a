package ledger_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// ownDone is a context whose Done channel is its own, not one of package
// context's (a framework's request context, say): context.WithCancel
// under it watches that channel with a goroutine until the child is
// cancelled or the parent ends. Under package context's own, the child
// stays in the parent's children until then instead; a goroutine shows it.
type ownDone struct {
	context.Context
	done chan struct{}
}

func (c ownDone) Done() <-chan struct{} { return c.done }

// A stream read to its end, as gRPC's streams are released (RecvMsg until
// it returns an error): io.EOF after a bounded range, or the error that
// ended it. Updates' own context of the stream (cancelled by Close) must
// go with it, not stay for as long as the caller's context lives: a
// process reading bounded ranges under its long-lived context, without
// Close after io.EOF, keeps one per stream.
func TestRV186StreamReadToItsEndReleasesItsContext(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	for i := 0; i < 3; i++ {
		_, err = p.Append(holdingTx(treasury, "1"))
		require.NoError(t, err)
	}
	c := newClient(t, p)
	bg, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx := ownDone{Context: bg, done: make(chan struct{})} // never closed while the streams are read
	_, err = c.LedgerEnd(ctx)                              // the connection up
	require.NoError(t, err)
	settle := func(max int) int {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > max && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		return runtime.NumGoroutine()
	}
	base := settle(0)
	const n = 10
	for i := 0; i < n; i++ {
		// Read to io.EOF, no Close.
		s, err := c.Updates(ctx, ledger.UpdatesRequest{EndInclusive: p.LedgerEnd(), Filter: ledger.Filter{Parties: []string{treasury}}})
		require.NoError(t, err)
		for {
			_, err := s.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
		}
		// Ended by an error, no Close.
		p.FailNext(ledgertest.MethodGetUpdates, 1, codes.Unavailable)
		s, err = c.Updates(ctx, ledger.UpdatesRequest{Filter: ledger.Filter{Parties: []string{treasury}}})
		require.NoError(t, err)
		_, err = s.Recv()
		require.True(t, ledger.IsRetryable(err), "the injected fault: %v", err)
	}
	if g := settle(base); g > base {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines grew from %d to %d over %d streams read to their end and %d ended by an error, none closed\n%s",
			base, g, n, n, buf[:runtime.Stack(buf, true)])
	}
}

package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestByteBudget: acquire admits what fits, admits anything when nothing is
// held (an update bigger than the limit goes alone), waits for a release
// otherwise, and gives up when its context ends.
func TestByteBudget(t *testing.T) {
	ctx := context.Background()
	b := newByteBudget(100)
	require.True(t, b.acquire(ctx, 60))
	require.True(t, b.acquire(ctx, 40), "exactly the limit")

	got := make(chan bool)
	go func() { got <- b.acquire(ctx, 1) }()
	select {
	case <-got:
		t.Fatal("acquired beyond the limit")
	case <-time.After(50 * time.Millisecond):
	}
	b.release(60)
	require.True(t, <-got, "a release lets the waiter in")
	b.release(40)
	b.release(1)

	require.True(t, b.acquire(ctx, 500), "bigger than the limit, but nothing is held")
	cctx, cancel := context.WithCancel(ctx)
	go func() { got <- b.acquire(cctx, 1) }()
	select {
	case <-got:
		t.Fatal("acquired while an oversized update is held")
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	require.False(t, <-got, "the context ended first")
	b.release(500)
	require.True(t, b.acquire(ctx, 100))
}

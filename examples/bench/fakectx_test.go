package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStartFakeSaysWhyItEnded: when the bench's context ends while its
// fake participant is still making its transactions (a bench run stopped,
// or a test's timeout), startFake's error says so. It said "fake
// participant exited before saying "ready": <nil>", since a child killed
// by the context ends its output without a read error.
func TestStartFakeSaysWhyItEnded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	// Two million transfers, warmed: far longer to make than the test waits.
	time.AfterFunc(300*time.Millisecond, cancel)
	f, err := startFake(ctx, childConfig{Treasury: "treasury", N: 2_000_000, Cache: true, Compress: true, Warm: true})
	if err == nil {
		f.Close()
		t.Fatal("the fake said ready within 300ms for two million transfers; the test cannot cancel it first")
	}
	require.ErrorIs(t, err, context.Canceled)
	require.NotContains(t, err.Error(), "<nil>")
}

package ingest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// ResolveSetAside's refusals are verdicts, not the context's end: one
// given while ctx has ended, with no statement run (an empty resolution),
// does not wrap ctx's error, so a caller that returns quietly on
// context.Canceled (an operator's tool stopped with ^C) does not swallow
// it. Only a statement that ctx cut short wraps ctx's error.
func TestRV98ResolveSetAsideVerdictIsNotTheContexts(t *testing.T) {
	b := setup(t)
	ing := newIngester(t, b, ingest.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := ing.ResolveSetAside(ctx, "offset:3", " ")
	require.Error(t, err)
	require.Contains(t, err.Error(), "resolution is empty")
	require.False(t, errors.Is(err, context.Canceled), "an empty resolution is refused whatever ctx, but the error blames ctx: %v", err)
}

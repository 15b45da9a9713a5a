package ledgertest

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// Intercept promises that a hook "may call the Participant's methods".
// Close is one of them: a test that simulates a participant crash on the
// n-th call does exactly this.
func TestReviewRV1InterceptHookMayClose(t *testing.T) {
	// No t.Cleanup(p.Close): on the old code the first Close never returns,
	// and a second one would wait for it forever.
	p, err := New()
	require.NoError(t, err)
	f := &fixture{p: p, state: lapiv2.NewStateServiceClient(dial(t, p.Addr()))}
	closed := make(chan struct{})
	f.p.Intercept("GetLedgerEnd", func(ctx context.Context, req proto.Message) error {
		f.p.Close()
		close(closed)
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	go f.state.GetLedgerEnd(ctx, &lapiv2.GetLedgerEndRequest{}) //nolint:errcheck
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("Close called from an Intercept hook did not return: it waits for the hook's own call")
	}
	// A second Close, outside the hook, returns once the shutdown is complete.
	again := make(chan struct{})
	go func() { p.Close(); close(again) }()
	select {
	case <-again:
	case <-time.After(3 * time.Second):
		t.Fatal("a second Close did not return")
	}
}

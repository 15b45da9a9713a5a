package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// Two refusals reach ClientCredentials before its next Token call: a call
// that sent the token it holds now (refused UNAUTHENTICATED), then a stream
// opened earlier with the token it replaced (ended ACCESS_TOKEN_EXPIRED).
// The older refusal is of a token the source no longer holds: it must not
// make the source forget the refusal of the one it holds, which the next
// call would send again.
func TestClientCredentialsOlderRefusalKeepsTheNewerOne(t *testing.T) {
	ep := newTokenEndpoint(t, "ingester", "s3cr3t-client", "")
	ctx := context.Background()
	clock := time.Now()
	src := ledger.ClientCredentials(ctx, ep.URL(), "ingester", "s3cr3t-client")
	ledger.SetCredentialsClock(src, func() time.Time { return clock })
	inv, ok := src.(ledger.TokenInvalidator)
	require.True(t, ok, "ClientCredentials is a TokenInvalidator")
	old, err := src.Token(ctx)
	require.NoError(t, err)
	clock = clock.Add(time.Hour - ledger.RefreshBeforeDefault/2) // due for refresh
	held, err := src.Token(ctx)
	require.NoError(t, err)
	require.NotEqual(t, old, held, "renewed")

	inv.Invalidate(held)
	inv.Invalidate(old)
	tok, err := src.Token(ctx)
	require.NoError(t, err)
	require.NotEqual(t, held, tok, "the refused token held was handed out again: the refusal of an older one, which it no longer held, replaced its refusal")

	// Nor does an older refusal drop a token nobody refused.
	inv.Invalidate(held)
	again, err := src.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, tok, again, "a refusal of a token no longer held dropped the one held")
}

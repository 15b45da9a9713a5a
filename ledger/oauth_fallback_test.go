package ledger_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// The source replaces a token before it expires so that calls never carry
// one about to expire; when the token endpoint fails in that window (down,
// HTTP 503), the token it holds is still valid and is served, not the
// failure. Once the token has expired, the failure is reported.
func TestClientCredentialsServesValidTokenWhileRefreshFails(t *testing.T) {
	ep := newTokenEndpoint(t, "ingester", "s3cr3t-client", "")
	ctx := context.Background()
	clock := time.Now()
	src := ledger.ClientCredentials(ctx, ep.URL(), "ingester", "s3cr3t-client")
	ledger.SetCredentialsClock(src, func() time.Time { return clock })
	first, err := src.Token(ctx)
	require.NoError(t, err)

	ep.set(func(e *tokenEndpoint) { e.fail = http.StatusServiceUnavailable })
	clock = clock.Add(59*time.Minute + 30*time.Second) // due for refresh, valid for 30s more
	tok, err := src.Token(ctx)
	require.NoError(t, err, "the token endpoint's failure is reported while the cached token is valid")
	require.Equal(t, first, tok)
	requests, _ := ep.counts()
	require.Equal(t, 2, requests, "the refresh was tried")

	clock = clock.Add(time.Minute) // expired
	_, err = src.Token(ctx)
	require.Error(t, err)
	require.ErrorContains(t, err, "HTTP 503")
	require.NotContains(t, err.Error(), "s3cr3t-client")

	ep.set(func(e *tokenEndpoint) { e.fail = 0 })
	tok, err = src.Token(ctx)
	require.NoError(t, err)
	require.NotEqual(t, first, tok)
}

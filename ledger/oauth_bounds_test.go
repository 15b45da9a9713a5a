package ledger_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// WithRefreshBefore(0) or a negative margin would use a token up to (or
// past) its expiry, so that a call could reach the participant with an
// expired token and stop ingestion (UNAUTHENTICATED): it means the
// default, as a zero does elsewhere in the library.
func TestClientCredentialsRefreshBeforeNotPositiveIsTheDefault(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Minute} {
		t.Run(d.String(), func(t *testing.T) {
			ep := newTokenEndpoint(t, "ingester", "s3cr3t-client", "")
			ctx := context.Background()
			clock := time.Now()
			src := ledger.ClientCredentials(ctx, ep.URL(), "ingester", "s3cr3t-client", ledger.WithRefreshBefore(d))
			ledger.SetCredentialsClock(src, func() time.Time { return clock })
			first, err := src.Token(ctx)
			require.NoError(t, err)
			clock = clock.Add(time.Hour - ledger.RefreshBeforeDefault/2) // the default margin has begun
			tok, err := src.Token(ctx)
			require.NoError(t, err)
			require.NotEqual(t, first, tok, "WithRefreshBefore(%v) served the same token %v before its expiry, not renewed", d, ledger.RefreshBeforeDefault/2)
		})
	}
}

// An http.Client without a Timeout (WithHTTPClient) against a token
// endpoint that accepts and never answers would hold every call (and the
// source's lock) for as long as the call's context lives, which for an
// update stream is for ever: the fetch is bounded all the same.
func TestClientCredentialsFetchBoundedWithoutClientTimeout(t *testing.T) {
	ep := newTokenEndpoint(t, "ingester", "s3cr3t-client", "")
	ep.set(func(e *tokenEndpoint) { e.delay = 5 * time.Second })
	src := ledger.ClientCredentials(context.Background(), ep.URL(), "ingester", "s3cr3t-client", ledger.WithHTTPClient(&http.Client{}))
	ledger.SetCredentialsFetchTimeout(src, 200*time.Millisecond)
	_, err := src.Token(context.Background())
	require.Error(t, err, "a fetch from a silent token endpoint waited as long as the endpoint did")
	require.NotContains(t, err.Error(), "s3cr3t-client")
}

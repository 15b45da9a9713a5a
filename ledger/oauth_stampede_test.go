package ledger_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// Concurrent callers share one fetch when it fails too: those that waited
// for it get its error instead of each asking the failing endpoint again,
// one after the other (a rate-limited or struggling identity provider
// would get one request per waiting call).
func TestClientCredentialsFailedFetchIsShared(t *testing.T) {
	ep := newTokenEndpoint(t, "ingester", "s3cr3t-client", "")
	ep.set(func(e *tokenEndpoint) { e.delay, e.fail = 100*time.Millisecond, http.StatusTooManyRequests })
	src := ledger.ClientCredentials(context.Background(), ep.URL(), "ingester", "s3cr3t-client")
	var wg sync.WaitGroup
	var failures atomic.Int32
	for range 20 {
		wg.Go(func() {
			if _, err := src.Token(context.Background()); err != nil {
				failures.Add(1)
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, 20, failures.Load())
	requests, _ := ep.counts()
	// One fetch: the oauth2 package tries the Basic header, then the
	// form, for an endpoint whose style it does not know yet.
	require.LessOrEqual(t, requests, 2, "the token endpoint was asked once per waiting caller")

	// A call after the failure tries again.
	ep.set(func(e *tokenEndpoint) { e.delay, e.fail = 0, 0 })
	tok, err := src.Token(context.Background())
	require.NoError(t, err)
	require.Equal(t, "access-1", tok)
}

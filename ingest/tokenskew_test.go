package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// A participant whose clock runs ahead of the identity provider's ends a
// stream with ABORTED ACCESS_TOKEN_EXPIRED while the token source, going by
// expires_in, still holds the token for valid. The retry must not send the
// same token again (the participant would refuse it, UNAUTHENTICATED, and
// ingestion would stop): the client tells ClientCredentials to drop it, and
// the retry fetches a new one.
func TestTokenExpiredEarlierThanItsSourceThinks(t *testing.T) {
	b := setup(t, ledgertest.WithCheckpointInterval(10*time.Millisecond), ledgertest.WithToken("token-1"))
	var mu sync.Mutex
	issued := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		issued++
		tok := fmt.Sprintf("token-%d", issued)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
	}))
	defer srv.Close()
	b.client = dial(t, b.p.Addr(), ledger.ClientCredentials(context.Background(), srv.URL, "ingester", "client-secret"))

	ing := newIngester(t, b, ingest.Config{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- ing.Run(context.Background()) }()
	appendN(t, b.p, 0, 10)
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)

	// token-1 expires, by the participant's clock, an hour early: it
	// accepts only the next token from now on.
	b.p.SetToken("token-2")
	b.p.ExpireTokenOnStreams()
	appendN(t, b.p, 10, 10)
	deadline := time.After(20 * time.Second)
	for ing.Stats().Offset != b.p.LedgerEnd() {
		select {
		case err := <-done:
			require.NoError(t, err, "ingestion stopped: the token the participant refused as expired was sent again")
			t.Fatal("Run returned before it caught up")
		case <-deadline:
			t.Fatalf("not caught up: offset %d, ledger end %d", ing.Stats().Offset, b.p.LedgerEnd())
		case <-time.After(5 * time.Millisecond):
		}
	}
	ing.Stop()
	require.NoError(t, <-done)
	requireAllOnce(t, b)
	require.Zero(t, ing.Stats().Errors["auth"], "no call was made with the refused token")
	mu.Lock()
	require.Equal(t, 2, issued, "one new token after the refusal")
	mu.Unlock()
}

package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// A token that cannot go in an HTTP/2 header (a newline a secrets agent
// left in it, a NUL) fails every call with INTERNAL, which ingestion retries
// for ever. It is a fault of the token source that no retry fixes: an
// authentication failure naming the cause, never the token.
func TestTokenThatCannotBeSentIsAnAuthFailure(t *testing.T) {
	p, err := ledgertest.New(ledgertest.WithToken("good-token"))
	require.NoError(t, err)
	defer p.Close()
	for name, tok := range map[string]string{"newline": "secret-token\n", "NUL": "secret\x00token", "non-ASCII": "secret-tökén"} {
		t.Run(name, func(t *testing.T) {
			c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true, Tokens: ledger.StaticToken(tok)}})
			require.NoError(t, err)
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = c.LedgerEnd(ctx)
			require.Error(t, err)
			require.False(t, ledger.IsRetryable(err), "retried for ever: %v", err)
			require.True(t, ledger.IsAuth(err), "not an authentication failure: %v", err)
			require.ErrorContains(t, err, "cannot be sent")
			require.NotContains(t, err.Error(), "secret")
		})
	}
}

package ledger_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// A TokenSource that honours its context (a secrets manager, a token file
// watcher) and gives up when the call's deadline passes has not been
// refused by anyone: the call ran out of time. It must not be reported as
// an authentication failure (IsAuth, ErrUnauthenticated), which tells the
// operator to check the credentials and stops ingestion for good.
func TestTokenSourceDeadlineIsNotAnAuthFailure(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	src := ledger.TokenFunc(func(ctx context.Context) (string, error) {
		<-ctx.Done() // a slow secrets manager
		return "", ctx.Err()
	})
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true, Tokens: src}})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = c.LedgerEnd(ctx)
	require.Error(t, err)
	require.False(t, errors.Is(err, ledger.ErrUnauthenticated), "a deadline reported as UNAUTHENTICATED: %v", err)
	require.False(t, ledger.IsAuth(err), "a deadline reported as an authentication failure: %v", err)
}

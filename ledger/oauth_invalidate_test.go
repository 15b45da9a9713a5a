package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
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

// A token the participant refuses at a unary call (UNAUTHENTICATED), on
// the Ledger API or the admin API, is dropped as one a stream ends
// expired for: the next call fetches a new one instead of sending the
// refused token again.
func TestRefusedTokenDroppedOnUnaryCalls(t *testing.T) {
	p, err := ledgertest.New(ledgertest.WithToken("access-1"))
	require.NoError(t, err)
	defer p.Close()
	ep := newTokenEndpoint(t, "ingester", "s3cr3t-client", "")
	src := ledger.ClientCredentials(context.Background(), ep.URL(), "ingester", "s3cr3t-client")
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true, Tokens: src},
		Admin: ledger.Endpoint{Target: p.AdminAddr(), Insecure: true, Tokens: src}})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.LedgerEnd(ctx)
	require.NoError(t, err)

	p.SetToken("access-2") // access-1 is no longer accepted
	_, err = c.LedgerEnd(ctx)
	require.ErrorIs(t, err, ledger.ErrUnauthenticated)
	_, err = c.LedgerEnd(ctx)
	require.NoError(t, err, "the Ledger API call after the refusal sent the refused token again")

	p.SetToken("access-3")
	_, err = c.HighestOffsetByTimestamp(ctx, ledgertest.DefaultSynchronizer, ledgertest.DefaultStartTime, false)
	require.ErrorIs(t, err, ledger.ErrUnauthenticated)
	_, err = c.PrunedOffsets(ctx)
	require.NoError(t, err, "the call after the admin API's refusal sent the refused token again")
	ep.mu.Lock()
	defer ep.mu.Unlock()
	require.Equal(t, []string{"access-1", "access-2", "access-3"}, ep.issued, "one new token per refusal")
}

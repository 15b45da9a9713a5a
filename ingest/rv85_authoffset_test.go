package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// The package doc: "authentication failures, pruned offsets, malformed
// updates and handler errors stop Run with an error naming the offset". A
// restart whose token the participant refuses fails at the first call,
// before the stream opens: the look-up of the last ingested transaction
// (tailing), or the ledger end (a bounded catch-up). Its error must name
// the checkpoint offset as the stream's does, so that the operator (and
// ingestd's "stopped by an error" line) can tell where ingestion stands.
func TestAuthFailureAtRestartNamesTheCheckpointOffset(t *testing.T) {
	b := setup(t, ledgertest.WithToken("the-right-token"))
	appendN(t, b.p, 0, 10)
	b.client = dial(t, b.p.Addr(), ledger.StaticToken("the-right-token"))
	runToEnd(t, b, ingest.Config{})
	end := b.p.LedgerEnd()

	b.client = dial(t, b.p.Addr(), ledger.StaticToken("an-expired-token"))
	for _, bounded := range []bool{false, true} {
		t.Run(fmt.Sprintf("bounded=%t", bounded), func(t *testing.T) {
			cfg := ingest.Config{}
			if bounded {
				cfg.EndOffset = end + 5
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := newIngester(t, b, cfg).Run(ctx)
			require.ErrorIs(t, err, ledger.ErrUnauthenticated)
			require.True(t, ledger.IsAuth(err))
			require.ErrorContains(t, err, fmt.Sprintf("offset %d", end), "the error does not name the checkpoint offset")
			require.NotContains(t, err.Error(), "an-expired-token")
		})
	}
}

package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// Two treasuries ingested into two schemas of one database by two
// Ingesters on one pool of two connections, which each accepts alone
// (batches one after the other). The two locks hold both connections for
// good: neither Ingester's batch ever got one, and both stood still with
// no error, their state "streaming". Run must fail, saying why, rather than
// stall in silence (an Ingester that finishes is fine too).
func TestRV123TwoIngestersSharingAPoolOfTwo(t *testing.T) {
	ctx, db, p, client := embedRig(t)
	for _, s := range []string{"hot", "cold"} {
		require.NoError(t, schema.Migrate(ctx, db, schema.WithSchema(s)))
	}
	var w ledgertest.TokenWorld
	_, err := p.Append(w.Mint("hot::1", "10"), w.Mint("cold::1", "10"))
	require.NoError(t, err)
	db.SetMaxOpenConns(2)

	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	for _, tr := range []struct{ party, schema string }{{"hot::1", "hot"}, {"cold::1", "cold"}} {
		ing, err := ingest.New(db, client, ingest.Config{Parties: []string{tr.party}, Schema: tr.schema,
			EndOffset: p.LedgerEnd(), LockCheck: time.Second, Logger: quietLog})
		require.NoError(t, err)
		go func() { errs <- ing.Run(rctx) }()
	}
	for range 2 {
		err := <-errs
		require.NotErrorIs(t, err, context.DeadlineExceeded, "an Ingester stood still until its context ended: %v", err)
		if err != nil {
			require.ErrorIs(t, err, ingest.ErrPoolExhausted)
			require.ErrorContains(t, err, "none of the 2 the pool allows came free within 1s")
		}
	}
}

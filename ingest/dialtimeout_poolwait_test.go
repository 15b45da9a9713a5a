package ingest_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The database stops answering new connections (its host drops packets)
// while the Ingester, on a pool with a limit, holds its lock's connection:
// the next batch's connection times out dialling (connect_timeout), an
// error that matches context.DeadlineExceeded. The wait for a pool
// connection took that for the pool's limit: it logged that "the pool's
// other users hold them" and waited again, round after round, instead of
// leaving the fault to the batch's retries, so that Stop was not seen
// (nothing committing, no database error counted) until the database
// answered again. With connections to spare in the pool, a dial that
// fails is a database fault, whatever its error.
func TestDialTimeoutIsADatabaseFaultNotAFullPool(t *testing.T) {
	ctx, db, dialer, p, client := faultRig(t)
	var w ledgertest.TokenWorld
	_, err := p.Append(w.Mint("hot::1", "10"))
	require.NoError(t, err)

	logs := &syncbuf.Buffer{}
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"hot::1"}, LockCheck: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	require.NoError(t, err)
	rctx, rcancel := context.WithTimeout(ctx, 40*time.Second)
	defer rcancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(rctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == p.LedgerEnd() }, 10*time.Second, 10*time.Millisecond)

	dialer.arm(1, 0) // no answer
	_, err = p.Append(w.Mint("hot::1", "11"))
	require.NoError(t, err)
	if !assert.Eventually(t, func() bool { return ing.Stats().Errors["database"] > 0 }, 15*time.Second, 20*time.Millisecond) {
		t.Fatalf("no database fault counted while no connection could be dialled (state %s):\n%s", ing.Stats().State, logs.String())
	}
	ing.Stop()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("Run did not return within 10s of Stop while the database did not answer:\n%s", logs.String())
	}
	require.False(t, strings.Contains(logs.String(), "the pool's other users hold them"),
		"a dial timing out taken for a full pool:\n%s", logs.String())
}

package ingest_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// A batch that set a transaction aside, and whose COMMIT reply was lost,
// is recognised as committed on its retry: the transaction set aside must
// still be logged and counted (Stats.SetAside), as for any batch that sets
// one aside; it is what an operator's alert watches. The Ingester dropped
// the notes of the attempt that committed: the set-aside transaction was
// neither logged nor counted.
func TestSetAsideCountedWhenTheCommitReplyIsLost(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 20)
	txs := treasuryTxs(b.p)
	rejected := txs[len(txs)/2].UpdateID
	h := rejecting(rejected, cannotApply)
	// The reply to the first COMMIT of a SQL transaction that wrote to the
	// review table is lost: it commits on the server, the caller is told
	// the connection broke.
	var lost atomic.Bool
	faulty := withFaults(t, b, &faultConnector{afterCommit: func(execs []string) error {
		wroteAside := slices.ContainsFunc(execs, func(q string) bool { return strings.Contains(q, "review_transaction") })
		if wroteAside && lost.CompareAndSwap(false, true) {
			return errReplyLost()
		}
		return nil
	}})
	var logs syncbuf.Buffer
	ing := newIngester(t, faulty, ingest.Config{Handler: h, Poison: ingest.PoisonSetAside,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		EndOffset: b.p.LedgerEnd()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, ing.Run(ctx))
	require.True(t, lost.Load(), "the lost reply was not injected")

	aside, err := ing.SetAsideTransactions(ctx)
	require.NoError(t, err)
	require.Len(t, aside, 1)
	require.Equal(t, rejected, aside[0].UpdateID)
	require.Equal(t, 1, strings.Count(logs.String(), "transaction set aside for review"), "logged once:\n%s", logs.String())
	require.Equal(t, int64(1), ing.Stats().SetAside, "counted once")
}

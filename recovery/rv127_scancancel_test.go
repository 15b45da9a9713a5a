package recovery_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The read for a synchronizer the Integration DB never saw, cut by the
// caller cancelling Plan (an operator's Ctrl-C, a shutdown) well within
// Options.Timeout: the error must say it was cancelled (errors.Is
// context.Canceled), not that the read did not finish within
// Options.Timeout nor ask for a longer -timeout, which would not help.
func TestRV127UnseenSynchronizerScanCancelledIsNotATimeout(t *testing.T) {
	b := newBundle(t)
	var txs []step
	for i := 1; i <= 400; i++ {
		txs = append(txs, step{n: i})
	}
	play(t, b.p, txs[:2])
	backup := b.p.Backup()
	play(t, b.p, txs[2:])
	ingestTo(t, b, b.p.LedgerEnd())
	_, err := b.p.Append(txOn(401, thirdSynchronizer))
	require.NoError(t, err)
	b.p.Restore(backup)
	b.p.SetDelay(20 * time.Millisecond) // 400 items: 8s

	opts := options(recovery.ModeNonUnique)
	opts.Timeout = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancelled once the read has run a while.
	opts.Logger = slog.New(onMessage{slog.DiscardHandler, "reading the treasury's transactions up to offRecovery", func() {
		time.AfterFunc(500*time.Millisecond, cancel)
	}})
	_, err = recovery.Plan(ctx, b.db, b.client, opts)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	require.NotContains(t, err.Error(), "did not finish within Options.Timeout")
	require.NotContains(t, err.Error(), "longer Options.Timeout")
}

// onMessage is a slog.Handler that calls do when a record's message
// contains msg.
type onMessage struct {
	slog.Handler
	msg string
	do  func()
}

func (onMessage) Enabled(context.Context, slog.Level) bool { return true }

func (h onMessage) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.msg) {
		h.do()
	}
	return h.Handler.Handle(ctx, r)
}

package recovery_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The node backup was taken before the participant processed anything of
// the synchronizer (a node backed up right after its onboarding), and the
// restored participant is still catching up. Canton 3.4 fails the look-up
// with INVALID_TIMESTAMP_PARTY_MANAGEMENT_ERROR and Plan waits; 3.5 says
// INVALID_ARGUMENT, synchronizer unknown, until it has processed an update
// of it. Plan must wait for it just the same (ErrNotCaughtUp's advice is to
// check that the participant is connected to the synchronizer), not fail at
// once and leave the operator to run the runbook again and again.
func TestPlanWaitsForASynchronizerTheBackupDidNotKnow(t *testing.T) {
	steps := script(30)
	want := reference(t, steps)
	for _, admin := range behaviours {
		t.Run(admin.String(), func(t *testing.T) {
			ctx := context.Background()
			b := newBundle(t, ledgertest.WithAdminBehaviour(admin))
			backup := b.p.Backup() // before the node processed anything of the synchronizer
			play(t, b.p, steps)
			ingestTo(t, b, offsetOf(t, b.p, "tx-00020"))
			b.p.Restore(backup, ledgertest.WithCatchUp(true))

			o := options(recovery.ModeNonUnique)
			o.Timeout = 10 * time.Second
			var once sync.Once
			o.Progress = func(recovery.Progress) { once.Do(func() { go b.p.CatchUp(-1) }) }
			rw, err := recovery.Plan(ctx, b.db, b.client, o)
			require.NoError(t, err)
			require.NoError(t, recovery.Apply(ctx, b.db, rw))
			ingestTo(t, b, b.p.LedgerEnd())
			require.Equal(t, want, readHistory(t, b.db))
		})
	}
}

// errors.go: "Each is returned wrapped, with the offsets, update id and
// record times it concerns". ErrNotCaughtUp concerns the last ingested
// update, which the participant must recover before the runbook can go on:
// the error names it, and the checkpoint offset, whatever the participant's
// last answer was.
func TestNotCaughtUpNamesTheLastIngestedUpdate(t *testing.T) {
	for _, admin := range behaviours {
		t.Run(admin.String(), func(t *testing.T) {
			b := newBundle(t, ledgertest.WithAdminBehaviour(admin))
			restoredAfter(t, b, script(30), 10, "tx-00025", ledgertest.WithCatchUp(true))
			o := options(recovery.ModeNonUnique)
			o.Timeout = 50 * time.Millisecond
			_, err := recovery.Plan(context.Background(), b.db, b.client, o)
			require.ErrorIs(t, err, recovery.ErrNotCaughtUp)
			require.ErrorContains(t, err, "tx-00025")
			require.ErrorContains(t, err, "checkpoint offset 25")
		})
	}
}

package recovery_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// Plan refuses a nil database or participant with an error; the Runbook
// built around it must too, before any step, rather than panic: without a
// DB in step 1, and without a Participant in step 4's look-ups, which run
// in goroutines of their own where the caller cannot recover the panic and
// the operator's command crashes.
func TestRunbookRefusesNilDatabaseOrParticipant(t *testing.T) {
	b := newBundle(t)
	restoredAfter(t, b, script(30), 10, "tx-00025")
	for name, rb := range map[string]*recovery.Runbook{
		"nil DB":          {Participant: b.client, Options: options(recovery.ModeNonUnique)},
		"nil Participant": {DB: b.db, Options: options(recovery.ModeNonUnique), PackagesSince: ledgertest.DefaultStartTime},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			rb.Out = &out
			var err error
			require.NotPanics(t, func() { _, err = rb.Run(context.Background()) })
			require.ErrorContains(t, err, "nil database or participant")
			require.NotContains(t, out.String(), "Step 1.", "refused before any step")
		})
	}
}

// Options are checked before step 1, not at step 5 after the operator has
// waited through steps 1-4 (step 4's package listing can take a while).
func TestRunbookRefusesBadOptionsBeforeStep1(t *testing.T) {
	b := newBundle(t)
	restoredAfter(t, b, script(30), 10, "tx-00025")
	noParties := options(recovery.ModeNonUnique)
	noParties.Parties = nil
	badMode := options(recovery.ModeNonUnique)
	badMode.Mode = "sometimes"
	for name, o := range map[string]recovery.Options{"no parties": noParties, "unknown mode": badMode} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := (&recovery.Runbook{DB: b.db, Participant: b.client, Options: o, Out: &out, PackagesSince: ledgertest.DefaultStartTime}).Run(context.Background())
			require.Error(t, err)
			require.NotContains(t, out.String(), "Step 1.", "refused before any step")
		})
	}
}

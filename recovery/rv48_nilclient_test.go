package recovery_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The nil *ledger.Client of a Dial whose error was ignored is no
// participant either: Plan, Packages and the Runbook refuse it as they
// refuse a nil Participant, rather than panic at the first call, in step
// 4's goroutines for the Runbook, where the operator's command crashes.
func TestNilClientIsRefusedAsANilParticipant(t *testing.T) {
	b := newBundle(t)
	restoredAfter(t, b, script(30), 10, "tx-00025")
	var client *ledger.Client
	calls := map[string]func() error{
		"Plan": func() error {
			_, err := recovery.Plan(context.Background(), b.db, client, options(recovery.ModeNonUnique))
			return err
		},
		"Packages": func() error {
			_, err := recovery.Packages(context.Background(), b.db, client, ledgertest.DefaultStartTime, recovery.PackageOptions{Parties: options(recovery.ModeNonUnique).Parties})
			return err
		},
		"Runbook": func() error {
			var out bytes.Buffer
			_, err := (&recovery.Runbook{DB: b.db, Participant: client, Options: options(recovery.ModeNonUnique), Out: &out,
				PackagesSince: ledgertest.DefaultStartTime}).Run(context.Background())
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { err = call() })
			require.ErrorContains(t, err, "nil database or participant")
		})
	}
}

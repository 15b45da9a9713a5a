package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// The runbook sees only the synchronizers the restored participant has
// reconnected to when it runs: one it has not is missed, and its
// transactions numbered below offRecovery would be skipped. The one check
// left to the operator (docs/OPERATIONS.md's ErrParticipantRestored row,
// the recovery package's Limits) is to compare the participant's
// connected synchronizers with those the runbook names before applying.
// The dry run, what the operator reads before -yes, must ask for it and
// name the synchronizers to compare with; it said nothing of it.
func TestDryRunAsksToCheckTheConnectedSynchronizers(t *testing.T) {
	r := newRestored(t, nil)
	args := []string{"-ledger", r.p.Addr(), "-admin", r.p.AdminAddr(), "-plaintext", "-dsn", r.dsn, "-party", treasury, "-poll", "10ms"}
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(args, envOf(nil), &out, &errOut), errOut.String())
	require.Contains(t, out.String(), dryRun)
	step5, step6, ok := strings.Cut(out.String(), "Step 6.")
	require.True(t, ok, out.String())
	_, step5, _ = strings.Cut(step5, "Step 5.")
	var line string
	for _, l := range strings.Split(step5, "\n") {
		if strings.Contains(l, "list_connected()") {
			line = l
		}
	}
	require.NotEmpty(t, line, "the dry run does not ask to check the participant's connected synchronizers before applying:\n%s", out.String())
	require.Contains(t, line, ledgertest.DefaultSynchronizer, "the check names no synchronizer to compare with")
	require.Contains(t, step6, "-yes")
}

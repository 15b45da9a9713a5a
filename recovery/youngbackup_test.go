package recovery_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// A node backup taken after the last ingested transaction (the treasury
// quiet since): the restored node has that transaction where it was
// ingested, and only the offsets after it change. The runbook's dry run
// must not tell the operator that the node "does not look restored", which
// invites skipping step 6; what it shows is only that the offsets up to
// the last ingested transaction are unchanged.
func TestRunbookDryRunAfterABackupYoungerThanTheLastTransaction(t *testing.T) {
	ctx := context.Background()
	steps := script(60)
	b := newBundle(t)
	play(t, b.p, steps[:25])
	ingestTo(t, b, b.p.LedgerEnd())
	play(t, b.p, steps[25:30])
	backup := b.p.Backup() // after tx-00025, the last ingested
	play(t, b.p, steps[30:])
	b.p.Restore(backup)

	var out bytes.Buffer
	rb := &recovery.Runbook{DB: b.db, Participant: b.client, Options: options(recovery.ModeNonUnique), Out: &out}
	rw, err := rb.Run(ctx)
	require.NoError(t, err, out.String())
	require.False(t, rw.Restored(), "the last ingested transaction kept its offset")
	require.NotContains(t, out.String(), "does not look restored", "the node was restored:\n%s", out.String())
	require.Contains(t, out.String(), "may have changed")
}

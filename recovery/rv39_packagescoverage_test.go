package recovery_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The validator node and the Integration DB both restored, the Integration
// DB from a backup older than the node's: the restored Integration DB has
// ingested nothing since the node backup, so step 4 finds no transaction
// to read packages from, although the treasury used the node after its
// backup (here tx 26 to 30, with packages the restored node may lack). The
// narration must not read as "no package to upload again": it must say
// how far the Integration DB's history goes, and that what came after it
// is not listed.
func TestPackagesListingSaysHowFarTheIntegrationDBGoes(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	steps := script(30)
	play(t, b.p, steps[:25])
	backup := b.p.Backup()
	since := backupTime(b) // the node backup's time
	play(t, b.p, steps[25:])
	ingestTo(t, b, offsetOf(t, b.p, "tx-00020")) // the (restored) Integration DB's history ends at tx 20
	b.p.Restore(backup)

	var out bytes.Buffer
	rb := &recovery.Runbook{DB: b.db, Participant: b.client, Options: options(recovery.ModeNonUnique), PackagesSince: since, Out: &out}
	_, err := rb.Run(ctx)
	require.NoError(t, err, out.String())
	t.Log("\n" + out.String())
	var tRecovery time.Time // of tx-00020, the last the Integration DB holds
	for _, tx := range b.p.Transactions() {
		if tx.UpdateID == "tx-00020" {
			tRecovery = tx.RecordTime
		}
	}
	require.False(t, tRecovery.IsZero())
	require.Contains(t, out.String(), "0 transactions ingested since")
	require.Contains(t, out.String(), "the Integration DB has ingested up to record time "+tRecovery.Format(time.RFC3339Nano),
		"step 4 lists nothing and does not say that the Integration DB's history ends before the backup")
	require.Contains(t, out.String(), "not listed")
}

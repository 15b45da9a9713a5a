package recovery_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// Step 4: the packages of the transactions ingested since the backup, read
// back from the participant by update id.
func TestPackagesSinceBackup(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	amulet := ledger.MustParseIdentifier("1220aaaa:Splice.Amulet:Amulet")
	token := ledger.MustParseIdentifier("1220bbbb:Acme.Token:Holding")
	holding := ledger.MustParseIdentifier("1220cccc:Splice.Api.Token.HoldingV1:Holding")
	mk := func(n int, tmpl ledger.Identifier, name string, iface *ledger.Identifier) *ledger.Transaction {
		events := []ledger.Event{&ledger.CreatedEvent{
			ContractID: fmt.Sprintf("00c%d", n), TemplateID: tmpl, PackageName: name,
			CreateArguments: ledger.Record(nil), WitnessParties: []string{treasury}, Signatories: []string{treasury},
		}}
		if iface != nil {
			events = append(events, &ledger.ExercisedEvent{
				NodeID: 1, ContractID: fmt.Sprintf("00c%d", n), TemplateID: tmpl, InterfaceID: iface, PackageName: name,
				Choice: "Transfer", ChoiceArgument: ledger.Record(nil), ExerciseResult: ledger.Unit(), ActingParties: []string{treasury},
				WitnessParties: []string{treasury}, LastDescendantNodeID: 1,
			})
		}
		return &ledger.Transaction{UpdateID: fmt.Sprintf("u-%d", n), Events: events}
	}
	_, err := b.p.Append(mk(1, amulet, "splice-amulet", nil), mk(2, amulet, "splice-amulet", nil))
	require.NoError(t, err)
	backup := b.p.Backup()
	after, err := b.p.Append(mk(3, amulet, "splice-amulet", nil), mk(4, token, "acme-token", &holding), mk(5, token, "acme-token", nil))
	require.NoError(t, err)
	ingestTo(t, b, b.p.LedgerEnd())
	since := after[0].RecordTime

	rep, err := recovery.Packages(ctx, b.db, b.client, since, recovery.PackageOptions{Parties: []string{treasury}})
	require.NoError(t, err)
	require.Equal(t, 3, rep.Transactions)
	require.Empty(t, rep.Missing)
	require.Len(t, rep.Packages, 3)
	require.Equal(t, recovery.PackageUse{PackageID: "1220aaaa", PackageName: "splice-amulet", Templates: []string{"Splice.Amulet:Amulet"},
		FirstSeen: after[0].RecordTime, LastSeen: after[0].RecordTime, Transactions: 1}, rep.Packages[0])
	require.Equal(t, recovery.PackageUse{PackageID: "1220bbbb", PackageName: "acme-token", Templates: []string{"Acme.Token:Holding"},
		FirstSeen: after[1].RecordTime, LastSeen: after[2].RecordTime, Transactions: 2}, rep.Packages[1])
	require.Equal(t, "1220cccc", rep.Packages[2].PackageID, "interface packages count too")
	require.Equal(t, []string{"Splice.Api.Token.HoldingV1:Holding"}, rep.Packages[2].Templates)

	// Against a restored participant that has not recovered them yet.
	b.p.Restore(backup, ledgertest.WithCatchUp(true))
	rep, err = recovery.Packages(ctx, b.db, b.client, since, recovery.PackageOptions{Parties: []string{treasury}, Concurrency: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"u-3", "u-4", "u-5"}, rep.Missing)
	require.Empty(t, rep.Packages)
}

// The runbook narrated step by step: a dry run changes nothing, the real
// run rewrites the checkpoint.
func TestRunbookNarratesEachStep(t *testing.T) {
	ctx := context.Background()
	steps := script(120, 62, 63)
	want := reference(t, steps)
	b := newBundle(t, ledgertest.WithAdminBehaviour(ledgertest.AdminV34))
	restoredAfter(t, b, steps, 40, "tx-00062", ledgertest.WithCatchUp(true))
	since := backupTime(b)
	before := readState(t, b.db)

	// The participant catches up once the runbook waits for it.
	o := options("")
	var once sync.Once
	o.Progress = func(recovery.Progress) { once.Do(func() { go b.p.CatchUp(-1) }) }
	var out bytes.Buffer
	rb := &recovery.Runbook{DB: b.db, Participant: b.client, Options: o, PackagesSince: since, Out: &out}
	rw, err := rb.Run(ctx)
	require.NoError(t, err, out.String())
	t.Log("\n" + out.String())
	require.Equal(t, before, readState(t, b.db), "a dry run writes nothing")
	for i := 1; i <= 6; i++ {
		require.Contains(t, out.String(), fmt.Sprintf("Step %d.", i))
	}
	require.Contains(t, out.String(), "waiting")
	require.NotContains(t, out.String(), "warning:", "one synchronizer")
	require.Contains(t, out.String(), "dry run")
	require.Contains(t, out.String(), "not visible on the participant yet")
	// tx 61 to 63 share tRecovery; ingestion stopped after tx 62.
	require.Equal(t, offsetOf(t, b.p, "tx-00060"), rw.To)

	out.Reset()
	rb.Apply = true
	_, err = rb.Run(ctx)
	require.NoError(t, err, out.String())
	t.Log("\n" + out.String())
	require.Contains(t, out.String(), "Step 7.")
	require.Contains(t, out.String(), "audit row 1")
	require.Contains(t, out.String(), "1220a1b2c3d4e5f6 test-pkg")

	ingestTo(t, b, b.p.LedgerEnd())
	require.Equal(t, want, readHistory(t, b.db))

	// Run again on a participant that was not restored since: the runbook
	// says so.
	out.Reset()
	rb.Options.Mode = recovery.ModeUnique
	rb.Apply = false
	rw, err = rb.Run(ctx)
	require.NoError(t, err, out.String())
	require.False(t, rw.Restored())
	require.Contains(t, out.String(), "where it was ingested: the offsets up to it are unchanged")
}

// backupTime is the record time of the last transaction in the restored
// participant's snapshot, a stand-in for "the time of the backup".
func backupTime(b *bundle) time.Time {
	txs := b.p.Transactions()
	return txs[len(txs)-1].RecordTime.Add(time.Microsecond)
}

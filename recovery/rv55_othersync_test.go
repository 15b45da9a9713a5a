package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// A treasury on two synchronizers. After the node backup: b0 on the
// default synchronizer, a1 on the other, b1 on the default one (the last
// ingested transaction), then, with ingestion stopped, a deposit a2 on the
// other synchronizer. The restored participant recovers the other
// synchronizer first (each synchronizer is recovered on its own), so the new
// offsets run a1, a2, b0, b1. offRecovery, looked up on b1's synchronizer
// only, lies at b0 (or b1 in ModeUnique), above a2: the deposit was never
// ingested and is skipped for good. Plan must look up the other
// synchronizer too, as of the record time ingested there, and resume below
// what came after it.
func TestRecoveryDoesNotSkipAnotherSynchronizersTransaction(t *testing.T) {
	for _, mode := range []recovery.Mode{recovery.ModeNonUnique, recovery.ModeUnique} {
		for _, admin := range behaviours {
			t.Run(string(mode)+"/"+admin.String(), func(t *testing.T) {
				ctx := context.Background()
				b := newBundle(t, ledgertest.WithAdminBehaviour(admin))
				restoreOtherFirst(t, b)
				require.Less(t, offsetOf(t, b.p, "tx-00006"), offsetOf(t, b.p, "tx-00003"), "the restored participant did not reorder the synchronizers")

				rw, err := recovery.Plan(ctx, b.db, b.client, options(mode))
				require.NoError(t, err)
				require.NoError(t, recovery.Apply(ctx, b.db, rw))
				ingestTo(t, b, b.p.LedgerEnd())

				h := readHistory(t, b.db)
				require.Empty(t, h.Duplicates)
				require.Equal(t, []string{"tx-00001", "tx-00002", "tx-00003", "tx-00004", "tx-00005", "tx-00006"}, updateIDs(h.Rows),
					"a transaction of the other synchronizer was skipped: offRecovery %d (%s)", rw.To, rw)
			})
		}
	}
}

// The other synchronizer was used before the node backup only, and the
// participant has processed nothing of it since (it left it, say): it
// numbered none of its transactions after the ingested record time, and
// offRecovery stays where the last ingested transaction's synchronizer puts
// it, rather than reach back to the other synchronizer's last transaction.
func TestRecoveryIgnoresAQuietSynchronizer(t *testing.T) {
	for _, admin := range behaviours {
		t.Run(admin.String(), func(t *testing.T) {
			ctx := context.Background()
			b := newBundle(t, ledgertest.WithAdminBehaviour(admin))
			_, err := b.p.Append(txOn(1, ledgertest.DefaultSynchronizer), txOn(2, otherSynchronizer), txOn(3, ledgertest.DefaultSynchronizer))
			require.NoError(t, err)
			backup := b.p.Backup()
			_, err = b.p.Append(txOn(4, ledgertest.DefaultSynchronizer), txOn(5, ledgertest.DefaultSynchronizer))
			require.NoError(t, err)
			ingestTo(t, b, b.p.LedgerEnd())
			b.p.Restore(backup)

			rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
			require.NoError(t, err)
			require.Len(t, rw.OtherSynchronizers, 1)
			require.Equal(t, offsetOf(t, b.p, "tx-00004"), rw.To, "%s", rw)
			require.NoError(t, recovery.Apply(ctx, b.db, rw))
			ingestTo(t, b, b.p.LedgerEnd())
			h := readHistory(t, b.db)
			require.Empty(t, h.Duplicates)
			require.Equal(t, []string{"tx-00001", "tx-00002", "tx-00003", "tx-00004", "tx-00005"}, updateIDs(h.Rows))
		})
	}
}

// In ModeUnique a look-up of another synchronizer can put offRecovery
// below the last ingested transaction, which is then replayed: without its
// dedup row it would be applied again, and Plan refuses.
func TestRecoveryUniqueLoweredNeedsTheDedupRow(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	restoreOtherFirst(t, b)
	_, err := b.db.Exec(`DELETE FROM txhistory.ingested_update WHERE update_id = 'tx-00005'`)
	require.NoError(t, err)

	_, err = recovery.Plan(ctx, b.db, b.client, options(recovery.ModeUnique))
	require.ErrorIs(t, err, recovery.ErrDedupMissing)
}

// txOn is step n's transaction on the synchronizer sync.
func txOn(n int, sync string) *ledger.Transaction {
	tx := step{n: n}.tx(time.Time{})
	tx.SynchronizerID = sync
	return tx
}

// txAt is txOn at ms milliseconds after the fake's start time.
func txAt(n int, sync string, ms int) *ledger.Transaction {
	tx := txOn(n, sync)
	tx.RecordTime = ledgertest.DefaultStartTime.Add(time.Duration(ms) * time.Millisecond)
	return tx
}

// restoreOtherFirst ingests tx-00001..5 on the default synchronizer and
// otherSynchronizer alternately (the backup after tx-00002), appends
// tx-00006 on otherSynchronizer after ingestion stopped (a deposit), and
// restores the backup with the participant recovering otherSynchronizer
// first: tx-00006 then lands below the last ingested tx-00005.
func restoreOtherFirst(t *testing.T, b *bundle) {
	t.Helper()
	_, err := b.p.Append(txOn(1, ledgertest.DefaultSynchronizer), txOn(2, otherSynchronizer))
	require.NoError(t, err)
	backup := b.p.Backup()
	_, err = b.p.Append(txOn(3, ledgertest.DefaultSynchronizer), txOn(4, otherSynchronizer), txOn(5, ledgertest.DefaultSynchronizer))
	require.NoError(t, err)
	ingestTo(t, b, b.p.LedgerEnd())
	_, err = b.p.Append(txOn(6, otherSynchronizer)) // a2, after ingestion stopped
	require.NoError(t, err)
	b.p.Restore(backup, ledgertest.WithSynchronizersFirst(otherSynchronizer))
}

// restoreOtherFirstSinceItsFirst is restoreOtherFirst where
// otherSynchronizer's first transaction (returned, tx-00003) comes after
// the backup: tx-00001, tx-00002 and tx-00004 on the default synchronizer,
// tx-00005 on otherSynchronizer after ingestion stopped.
func restoreOtherFirstSinceItsFirst(t *testing.T, b *bundle) *ledger.Transaction {
	t.Helper()
	_, err := b.p.Append(txOn(1, ledgertest.DefaultSynchronizer), txOn(2, ledgertest.DefaultSynchronizer))
	require.NoError(t, err)
	backup := b.p.Backup()
	a1 := txOn(3, otherSynchronizer)
	_, err = b.p.Append(a1, txOn(4, ledgertest.DefaultSynchronizer))
	require.NoError(t, err)
	ingestTo(t, b, b.p.LedgerEnd())
	_, err = b.p.Append(txOn(5, otherSynchronizer)) // a deposit, after ingestion stopped
	require.NoError(t, err)
	b.p.Restore(backup, ledgertest.WithSynchronizersFirst(otherSynchronizer))
	return a1
}

package withdrawal_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The participant was pruned below the checkpoint, as docs/OPERATIONS.md
// allows ("pruning only below the checkpoint"), but above the checkpoint
// of an Integration DB backup; the node backup taken after holds that
// pruning. Restored from those backups (the Integration DB older than the
// node), ingestion cannot read what came after the Integration DB backup:
// it stops with ErrPruned, and the restore procedure keeps withdrawals
// disabled for good. The operations guide must say to prune no further
// than the checkpoint of the oldest Integration DB backup that may be
// restored.
func TestPrunedPastAnIntegrationDBBackup(t *testing.T) {
	pgDump, pgRestore := pgTool(t, "pg_dump"), pgTool(t, "pg_restore")
	db := pgtest.NewDB(t)
	var name string
	require.NoError(t, db.Get(&name, `SELECT current_database()`))
	dsn := pgtest.SharedServer(t).DSN(name)
	l := newLive(t, db, withdrawal.ReconcilerConfig{})
	ctx := l.ctx

	holdings := l.mintAndCatchUp("100", "100")
	dbBackup := filepath.Join(t.TempDir(), "integration.dump")
	runTool(ctx, t, pgDump, "--format=custom", "--file="+dbBackup, "--dbname="+dsn)
	w := l.submitted("wd-1", "10", holdings[0])
	l.append(l.world.Transfer(transferSpec(w)))
	l.mint("5")
	l.caughtUp()
	cp, _, err := l.cps.Get(ctx, l.db)
	require.NoError(t, err)
	require.NoError(t, l.p.Prune(cp.Offset-1)) // below the checkpoint
	nodeBackup := l.p.Backup()

	l.stopIngester()
	l.p.Restore(nodeBackup)
	runTool(ctx, t, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname="+dsn, dbBackup)
	l.startIngester()
	select {
	case err = <-l.ingDone:
		l.stopIng = nil
	case <-time.After(30 * time.Second):
		t.Fatal("ingestion did not stop")
	}
	require.ErrorIs(t, err, ledger.ErrPruned, "ingestion of the restored Integration DB")

	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = withdrawal.RestoreProcedure{Store: l.store, TTL: ttl, Now: func() time.Time { return l.now },
		PollInterval: 5 * time.Millisecond, Logger: quietLog}.Run(wctx)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "the procedure waits for an ingestion that cannot go on: %v", err)
	g, err := l.store.Gate(ctx)
	require.NoError(t, err)
	require.False(t, g.Enabled)

	b, err := os.ReadFile("../docs/OPERATIONS.md")
	require.NoError(t, err)
	var row string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "was pruned by the participant") {
			row = line
		}
	}
	require.NotEmpty(t, row)
	require.Contains(t, row, "Integration DB backup", "the pruned row of the runbook pointers says to prune only below the checkpoint, not below that of the oldest Integration DB backup that may be restored")
}

func transferSpec(w *withdrawal.Withdrawal) ledgertest.TransferSpec {
	return ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver, Amount: w.Amount.String(),
		InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "0.1"}
}

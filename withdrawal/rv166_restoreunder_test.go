package withdrawal_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// rv166Log is a log the Ingester's goroutines write to and the test reads.
type rv166Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *rv166Log) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *rv166Log) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// rv166State is what an undisturbed run and a disturbed one are compared
// on: the history's entries, the deposits credited and the withdrawals.
func rv166State(t *testing.T, l *live) (history, credits, withdrawals []string) {
	t.Helper()
	require.NoError(t, l.db.Select(&history, `SELECT update_id || '/' || node_id || '/' || kind || '/' || amount::text
		FROM txhistory.token_history ORDER BY update_id, node_id, kind`))
	require.NoError(t, l.db.Select(&credits, `SELECT update_id || '/' || node_id || '/' || account || '/' || amount::text
		FROM public.credit ORDER BY update_id, node_id`))
	require.NoError(t, l.db.Select(&withdrawals, `SELECT id || '/' || status || '/' || coalesce(update_id, '')
		FROM txhistory.withdrawal ORDER BY id`))
	return
}

// TestRV166IngesterLeftRunningAcrossTheRestore restores the Integration DB
// (pg_restore --clean --if-exists --single-transaction) from an older
// backup underneath an Ingester (History, with a deposit crediter, and the
// Reconciler) that nobody stopped. Its next commit meets the restored
// checkpoint: it must not write its in-memory state on top of the
// restored one, and once ingestion has caught up again nothing is written
// twice nor lost: the history, the credits and the withdrawals are those
// of an undisturbed run. Its log says that the checkpoint went back, the
// Integration DB restored underneath it, and what to do; not that the
// ingester it took the lock from committed, which moves it forward.
func TestRV166IngesterLeftRunningAcrossTheRestore(t *testing.T) {
	rv166AcrossTheRestore(t, false)
}

// TestRV166StandbyLeftRunningAcrossTheRestore is the same with the
// primary stopped for the restore and its standby, waiting for the lock,
// forgotten: it takes over, and the restore happens underneath it.
func TestRV166StandbyLeftRunningAcrossTheRestore(t *testing.T) {
	rv166AcrossTheRestore(t, true)
}

func rv166AcrossTheRestore(t *testing.T, standby bool) {
	pgDump, pgRestore := pgTool(t, "pg_dump"), pgTool(t, "pg_restore")
	db := pgtest.NewDB(t)
	var name string
	require.NoError(t, db.Get(&name, `SELECT current_database()`))
	dsn := pgtest.SharedServer(t).DSN(name)
	l := newLive(t, db, withdrawal.ReconcilerConfig{})
	ctx := l.ctx
	const alice = "alice::1220wd"
	l.append(l.world.Mint(alice, "1000"))
	holdings := l.mint("50", "50", "50", "50")
	logged := &rv166Log{}
	l.ingLog = slog.New(slog.NewTextHandler(logged, nil))
	l.startCrediting()
	l.caughtUp()
	deposit := func(acct, amount string) {
		l.append(l.world.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: amount, Reason: acct}))
	}
	pay := func(w *withdrawal.Withdrawal) {
		l.append(l.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver, Amount: w.Amount.String(),
			InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "0.1"}))
	}
	deposit("acct-1", "3")
	w1 := l.submitted("wd-1", "10", holdings[0])
	l.caughtUp()
	backup := filepath.Join(t.TempDir(), "integration.dump")
	runTool(ctx, t, pgDump, "--format=custom", "--file="+backup, "--dbname="+dsn)

	// After the backup: a deposit, wd-1 paid, wd-2 created and paid.
	deposit("acct-2", "4")
	pay(w1)
	w2 := l.submitted("wd-2", "20", holdings[1])
	pay(w2)
	for i := 0; i < 20; i++ {
		deposit(fmt.Sprintf("acct-%d", 3+i%3), fmt.Sprint(1+i))
	}
	l.caughtUp()

	if standby {
		// The standby waits for the lock; the primary is stopped for the
		// restore, and the standby takes over (and commits the
		// participant's offset checkpoints) before pg_restore runs.
		stopPrimary := l.stopIng
		l.startCrediting()
		time.Sleep(100 * time.Millisecond)
		stopPrimary()
		// The primary's goroutine sends its result to l.ingDone as it is
		// when Run returns: the standby's channel, now.
		require.ErrorIs(t, <-l.ingDone, context.Canceled)
		time.Sleep(200 * time.Millisecond)
	}
	// The restore, the Ingester still running (tailing, with offset
	// checkpoints every 10ms).
	runTool(ctx, t, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname="+dsn, backup)
	// More activity after the restore.
	deposit("acct-9", "5")
	w3 := l.submitted("wd-3", "30", holdings[2])
	pay(w3)
	l.advance(time.Second)
	l.caughtUp()
	select {
	case err := <-l.ingDone:
		l.stopIng = nil
		t.Fatalf("the Ingester stopped: %v", err)
	default:
	}
	gotH, gotC, gotW := rv166State(t, l)
	var retried string
	for _, line := range strings.Split(logged.String(), "\n") {
		if strings.Contains(line, "checkpoint: stored offset changed underneath") {
			retried = line
		}
	}
	require.NotEmpty(t, retried, "no retry logged for the restored checkpoint:\n%s", logged)
	t.Log(retried)
	require.Contains(t, retried, "the stored checkpoint went back", "the retry's line")
	require.Contains(t, retried, "withdrawal.RestoreProcedure", "the retry's line")
	require.NotContains(t, retried, "the ingester that had it before committed", "the retry's line")

	// The undisturbed run: the same ledger ingested into a fresh
	// Integration DB.
	l2 := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{})
	l2.p, l2.client, l2.world, l2.now = l.p, l.client, l.world, l.now
	l2.startCrediting()
	l2.caughtUp()
	wantH, wantC, _ := rv166State(t, l2)
	require.Equal(t, wantH, gotH, "history")
	require.Equal(t, wantC, gotC, "credits")
	// wd-2's request, lost with the restore, is recovered from the ledger.
	require.Equal(t, []string{"wd-1/completed/" + l.get("wd-1").UpdateID, "wd-2/recovered/" + l.get("wd-2").UpdateID,
		"wd-3/completed/" + l.get("wd-3").UpdateID}, gotW, "withdrawals")
	require.NotEmpty(t, l.get("wd-2").UpdateID)
}

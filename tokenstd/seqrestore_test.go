package tokenstd_test

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// The Integration DB is restored from a backup (pg_dump / pg_restore, as the
// Integration DB restore runbook and examples/dbrestoredrill do) and
// ingestion re-ingests what came after the backup. token_history.id (the
// AfterSeq cursor) comes from a sequence: pg_restore sets it back to its
// value at the backup, and the re-ingested entries get new ids. Before the
// restore a batch had been retried once (a crediter error after its COPY:
// the ingester retries any failed batch), so the sequence had a gap the
// re-ingestion does not repeat. A reader of the history that keeps its
// cursor outside the Integration DB (the exchange's accounting, in its own
// database) and went on from the Seq it reached never saw the first new
// deposit after the restore: it got an id at or below that Seq.
// RenumberAfterRestore, called after the restore and before ingestion
// resumes, moves the sequence past every Seq handed out before: the reader
// sees what was ingested since the backup again (it drops what it has seen
// by the entry's key) and every new entry.
func TestListEntriesAfterSeqAcrossAnIntegrationDBRestore(t *testing.T) {
	pgDump, err1 := exec.LookPath("pg_dump")
	pgRestore, err2 := exec.LookPath("pg_restore")
	if err1 != nil || err2 != nil {
		t.Skip("pg_dump / pg_restore not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := pgtest.NewDSN(t)
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, schema.Migrate(ctx, db, schema.WithSchema(testSchema)))
	_, err = db.ExecContext(ctx, `CREATE TABLE public.credit (
		update_id text, node_id int, account text, amount numeric, PRIMARY KEY (update_id, node_id))`)
	require.NoError(t, err)
	b := &historyBundle{db: db, ctx: ctx}

	failOnce := false
	credit := creditor()
	h := newHistory(t, tokenstd.Config{Credit: tokenstd.CreditFunc(func(ctx context.Context, tx *sqlx.Tx, e *tokenstd.Entry) error {
		if failOnce {
			failOnce = false
			return errors.New("credit table briefly unavailable")
		}
		return credit.CreditDeposit(ctx, tx, e)
	})})

	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	deposit := func(acct, amount string, offset int64) *ledger.Transaction {
		tx := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: amount, Reason: acct}), treasury)
		tx.Offset = offset
		return tx
	}
	d1, d2, d3 := deposit("acct-1", "10", 101), deposit("acct-2", "20", 102), deposit("acct-3", "30", 103)

	require.NoError(t, b.handle(t, h, []*ledger.Transaction{d1}, 1))

	backup := filepath.Join(t.TempDir(), "integration.dump")
	out, err := exec.CommandContext(ctx, pgDump, "--format=custom", "--file="+backup, "--dbname="+dsn).CombinedOutput()
	require.NoError(t, err, "pg_dump: %s", out)

	// d2: the first attempt fails after its entry is written, the retry commits.
	failOnce = true
	require.Error(t, b.handle(t, h, []*ledger.Transaction{d2}, 1))
	require.NoError(t, b.handle(t, h, []*ledger.Transaction{d2}, 1))

	// The exchange's reader pages through the deposits and keeps its cursor.
	read := pageDepositsFrom(t, b, 0)
	require.Equal(t, []string{"acct-1", "acct-2"}, accountsOf(read))
	cursor := read[len(read)-1].Seq

	// Integration DB restore: stop ingestion, pg_restore, restart ingestion.
	db.SetMaxIdleConns(0)
	out, err = exec.CommandContext(ctx, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error",
		"--dbname="+dsn, backup).CombinedOutput()
	require.NoError(t, err, "pg_restore: %s", out)
	db.SetMaxIdleConns(2)
	require.NoError(t, tokenstd.RenumberAfterRestore(ctx, db, testSchema))
	require.NoError(t, tokenstd.RenumberAfterRestore(ctx, db, testSchema), "a second call")
	h = newHistory(t, tokenstd.Config{Credit: creditor()})
	// Re-ingestion from the backup's checkpoint, then a new deposit.
	require.NoError(t, b.handle(t, h, []*ledger.Transaction{d2, d3}, 1))

	all := pageDepositsFrom(t, b, 0)
	require.Equal(t, []string{"acct-1", "acct-2", "acct-3"}, accountsOf(all), "the history after the restore")
	next := pageDepositsFrom(t, b, cursor)
	require.Equal(t, []string{"acct-2", "acct-3"}, accountsOf(next),
		"deposits after the reader's cursor (AfterSeq %d) following an Integration DB restore; seqs now: %v", cursor, seqsOf(all))
	require.Less(t, seqsOf(all)["acct-3"], int64(1)<<53, "Seq stays exact as a JSON number")
}

func pageDepositsFrom(t *testing.T, b *historyBundle, after int64) []tokenstd.Entry {
	t.Helper()
	var out []tokenstd.Entry
	f := tokenstd.EntryFilter{Kinds: []tokenstd.Kind{tokenstd.KindDeposit}, Limit: 1, AfterSeq: after}
	for pages := 0; pages < 10; pages++ {
		es, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, f)
		require.NoError(t, err)
		if len(es) == 0 {
			break
		}
		out = append(out, es...)
		f.AfterSeq = es[len(es)-1].Seq
	}
	return out
}

func accountsOf(es []tokenstd.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Account)
	}
	return out
}

func seqsOf(es []tokenstd.Entry) map[string]int64 {
	out := map[string]int64{}
	for _, e := range es {
		out[e.Account] = e.Seq
	}
	return out
}

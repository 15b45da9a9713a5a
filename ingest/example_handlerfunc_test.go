package ingest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
)

// An exchange's own Handler: it writes a table of the exchange's in each
// batch's SQL transaction, so that its rows commit together with the
// checkpoint and the dedup rows, or not at all. When the checkpoint is moved
// back (here as the validator node restore runbook would), the next Run
// streams the same transactions again, and update-id dedup drops every one
// of them before the Handler sees it: nothing is applied twice.
func ExampleHandlerFunc() {
	ctx := context.Background()
	db, drop, err := pgtest.Open(ctx, "ExampleHandlerFunc")
	if err != nil {
		panic(err)
	}
	defer drop()
	if err := schema.Migrate(ctx, db); err != nil {
		panic(err)
	}
	// The exchange's table. A primary key on the update id would make a
	// transaction applied twice fail the batch; dedup sees that it is not.
	if _, err := db.ExecContext(ctx, `CREATE TABLE ledger_log (update_id text PRIMARY KEY, ledger_offset bigint NOT NULL)`); err != nil {
		panic(err)
	}

	const treasury = "treasury::1220ex"
	p, err := ledgertest.New()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	w := &ledgertest.TokenWorld{}
	if _, err := p.Append(
		w.Mint("alice::1220a1", "100"), // not the treasury's: not streamed to it
		w.Transfer(ledgertest.TransferSpec{Sender: "alice::1220a1", Receiver: treasury, Amount: "60", Reason: "acct-42"}),
		w.Transfer(ledgertest.TransferSpec{Sender: "alice::1220a1", Receiver: treasury, Amount: "15", Reason: "acct-42"}),
	); err != nil {
		panic(err)
	}
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	// The Handler writes with tx, the batch's SQL transaction, and never
	// commits it: the Ingester does, with the checkpoint.
	logTx := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
		for _, t := range b.Transactions {
			if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_log VALUES ($1, $2)`, t.UpdateID, t.Offset); err != nil {
				return fmt.Errorf("logging %s at offset %d: %w", t.UpdateID, t.Offset, err)
			}
		}
		return nil
	})
	run := func() {
		ing, err := ingest.New(db, client, ingest.Config{
			Parties: []string{treasury}, Handler: logTx, EndOffset: p.LedgerEnd(),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			panic(err)
		}
		if err := ing.Run(ctx); err != nil {
			panic(err)
		}
		var rows int
		if err := db.GetContext(ctx, &rows, `SELECT count(*) FROM ledger_log`); err != nil {
			panic(err)
		}
		st := ing.Stats()
		fmt.Printf("run: offset %d, %d new, %d skipped by dedup; ledger_log has %d rows\n", st.Offset, st.Transactions, st.Skipped, rows)
	}
	run()

	// Move the checkpoint back to the start of the ledger, just before the
	// first transaction's record time, as recovery.Apply does after a
	// validator node restore (with ingestion stopped).
	store, err := checkpoint.NewStore(schema.DefaultName)
	if err != nil {
		panic(err)
	}
	first := p.Transactions()[0]
	tx := db.MustBeginTx(ctx, nil)
	if err := store.RewindTx(ctx, tx, checkpoint.Rewind{
		From: p.LedgerEnd(), To: 0, Mode: "example",
		SynchronizerID: first.SynchronizerID, RecoveryTime: first.RecordTime.Add(-time.Microsecond),
	}); err != nil {
		panic(err)
	}
	if err := tx.Commit(); err != nil {
		panic(err)
	}
	run()
	// Output:
	// run: offset 3, 2 new, 0 skipped by dedup; ledger_log has 2 rows
	// run: offset 3, 0 new, 2 skipped by dedup; ledger_log has 2 rows
}

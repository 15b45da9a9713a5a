package ledgertest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"google.golang.org/grpc/codes"
)

// A unit test of an exchange's ingestion against a participant that
// misbehaves: its update streams break every two transactions, as behind a
// flaky load balancer, and its next two GetUpdates calls are refused as by
// a participant still starting. The Ingester retries, each time from the offset
// it committed, and the exchange's table ends up with every transaction exactly
// once.
func ExampleParticipant_DropStreamsAfter() {
	ctx := context.Background()
	db, drop, err := pgtest.Open(ctx, "ExampleDropStreamsAfter")
	if err != nil {
		panic(err)
	}
	defer drop()
	if err := schema.Migrate(ctx, db); err != nil {
		panic(err)
	}
	// The exchange's own table: a second insert of an update id would fail.
	if _, err := db.ExecContext(ctx, `CREATE TABLE seen (update_id text PRIMARY KEY, ledger_offset bigint)`); err != nil {
		panic(err)
	}

	// Five deposits to the treasury, then the faults.
	h := ledgertest.TransferHistory{Treasury: "treasury::1220ex"}
	p, err := ledgertest.New()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	if _, err := p.Append(h.Tx(0), h.Tx(1), h.Tx(2), h.Tx(3), h.Tx(4)); err != nil {
		panic(err)
	}
	p.DropStreamsAfter(2)                                         // each stream breaks (UNAVAILABLE) after two items
	p.FailNext(ledgertest.MethodGetUpdates, 2, codes.Unavailable) // and the next two calls are refused

	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	ing, err := ingest.New(db, client, ingest.Config{
		Parties: []string{h.Treasury},
		Handler: ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
			for _, t := range b.Transactions {
				if _, err := tx.ExecContext(ctx, `INSERT INTO seen VALUES ($1, $2)`, t.UpdateID, t.Offset); err != nil {
					return fmt.Errorf("recording %s at offset %d: %w", t.UpdateID, t.Offset, err)
				}
			}
			return nil
		}),
		EndOffset:  p.LedgerEnd(),    // a bounded run: Run returns nil there
		MinBackoff: time.Millisecond, // retry at once: the test need not wait
		MaxBackoff: 10 * time.Millisecond,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)), // the retries are logged at Warn
	})
	if err != nil {
		panic(err)
	}
	if err := ing.Run(ctx); err != nil {
		panic(err)
	}

	var seen string
	if err := db.GetContext(ctx, &seen, `SELECT string_agg(ledger_offset || ' ' || update_id, ', ' ORDER BY ledger_offset) FROM seen`); err != nil {
		panic(err)
	}
	fmt.Println("seen:", seen)
	// Requests tells what the client asked: where each stream began (the
	// first two were refused), each time after the last offset committed.
	for _, r := range p.Requests() {
		fmt.Println("GetUpdates after offset", r.GetBeginExclusive())
	}
	// Output:
	// seen: 1 upd-1, 2 upd-2, 3 upd-3, 4 upd-4, 5 upd-5
	// GetUpdates after offset 0
	// GetUpdates after offset 0
	// GetUpdates after offset 0
	// GetUpdates after offset 2
	// GetUpdates after offset 4
}

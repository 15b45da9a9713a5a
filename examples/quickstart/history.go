package main

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/jmoiron/sqlx"
)

// scriptHistory appends a realistic mixed token history around the
// treasury: deposits naming accounts, withdrawals with change and fees,
// multi-step offers, merges, and transactions of other parties.
func scriptHistory(p *ledgertest.Participant, treasury string, n int) error {
	demo := ledgertest.BuildDemoHistory(treasury, n)
	for i := 0; i < len(demo.Transactions); i += 1000 {
		if _, err := p.Append(demo.Transactions[i:min(i+1000, len(demo.Transactions))]...); err != nil {
			return err
		}
	}
	return nil
}

func defaultTLS() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS12} }

// newHandler returns the batch handler and a function printing what was
// ingested.
func newHandler(schemaName, treasury string) (ingest.Handler, func(context.Context, *sqlx.DB) error, error) {
	dd, err := dedup.NewStore(schemaName)
	if err != nil {
		return nil, nil, err
	}
	report := func(ctx context.Context, db *sqlx.DB) error {
		n, err := dd.Count(ctx, db)
		if err != nil {
			return err
		}
		fmt.Printf("update ids in the database: %d\n", n)
		return nil
	}
	return nil, report, nil
}

package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"sort"

	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
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

// newHandler returns the token standard history handler and a function
// printing what was ingested: update ids, history entries by kind, and the
// treasury's balances from its holdings.
func newHandler(schemaName, treasury string, out io.Writer) (ingest.Handler, func(context.Context, *sqlx.DB) error, error) {
	dd, err := dedup.NewStore(schemaName)
	if err != nil {
		return nil, nil, err
	}
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Schema: schemaName})
	if err != nil {
		return nil, nil, err
	}
	report := func(ctx context.Context, db *sqlx.DB) error {
		n, err := dd.Count(ctx, db)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "update ids in the database: %d\n", n)
		entries, err := tokenstd.ListEntries(ctx, db, schemaName, tokenstd.EntryFilter{})
		if err != nil {
			return err
		}
		byKind := map[string]int{}
		for _, e := range entries {
			byKind[string(e.Kind)]++
		}
		kinds := make([]string, 0, len(byKind))
		for k := range byKind {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		fmt.Fprintf(out, "history entries: %d\n", len(entries))
		for _, k := range kinds {
			fmt.Fprintf(out, "  %-20s %6d\n", k, byKind[k])
		}
		balances, err := history.Balances(ctx, db)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, "treasury balances (from its live holdings):")
		for inst, amount := range balances {
			fmt.Fprintf(out, "  %-40s %s\n", inst.ID+" ("+inst.Admin+")", amount.String())
		}
		return nil
	}
	return history, report, nil
}

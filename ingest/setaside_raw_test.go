package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// TestSetAsideTransactionsListsTextWithEscapes: a transaction set aside
// whose JSON holds a backslash escape (any text with a newline, a quote or
// a backslash: a memo, a reason) is listed with its JSON as stored. The
// list read the JSON through bytea's escape syntax, and failed for every
// row (invalid input syntax for type bytea) once one such transaction was
// set aside: the operator could not see the review queue.
func TestSetAsideTransactionsListsTextWithEscapes(t *testing.T) {
	b := setup(t)
	const memo = "line1\nline2 \"quoted\" back\\slash"
	tx := simpleTx(treasury, 1)
	tx.Events[0].(*ledger.CreatedEvent).CreateArguments = ledger.Record(nil,
		ledger.F("owner", ledger.Party(treasury)), ledger.F("memo", ledger.Text(memo)))
	_, err := b.p.Append(tx)
	require.NoError(t, err)
	refuse := ingest.HandlerFunc(func(context.Context, *sqlx.Tx, *ingest.Batch) error { return errors.New("my service refuses it") })
	ing := newIngester(t, b, ingest.Config{Handler: refuse, Poison: ingest.PoisonSetAside, EndOffset: b.p.LedgerEnd()})
	require.NoError(t, ing.Run(context.Background()))

	aside, err := ing.SetAsideTransactions(context.Background())
	require.NoError(t, err)
	require.Len(t, aside, 1)
	require.True(t, json.Valid(aside[0].Raw), "Raw is the stored JSON: %s", aside[0].Raw)
	quoted, err := json.Marshal(memo)
	require.NoError(t, err)
	require.Contains(t, string(aside[0].Raw), string(quoted), "the memo as the JSON holds it")
}

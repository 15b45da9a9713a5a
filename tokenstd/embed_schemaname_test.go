package tokenstd_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
)

// TestEmbedReadersRefuseBadSchemaName: the read functions take the schema
// name an exchange configured; an empty or invalid one is refused with a
// *schema.NameError, as RenumberAfterRestore and every Config refuse it,
// not sent to PostgreSQL as a zero-length identifier (a syntax error).
func TestEmbedReadersRefuseBadSchemaName(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	if err := schema.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{""} {
		calls := map[string]func() error{
			"ListEntries": func() error {
				_, err := tokenstd.ListEntries(ctx, db, name, tokenstd.EntryFilter{})
				return err
			},
			"Balances": func() error {
				_, err := tokenstd.Balances(ctx, db, name)
				return err
			},
			"LiveHoldings": func() error {
				_, err := tokenstd.LiveHoldings(ctx, db, name)
				return err
			},
			"PendingInstructions": func() error {
				_, err := tokenstd.PendingInstructions(ctx, db, name)
				return err
			},
			"HoldingsByID": func() error {
				_, err := tokenstd.HoldingsByID(ctx, db, name, []string{"00holding0001"})
				return err
			},
		}
		for fn, call := range calls {
			var ne *schema.NameError
			if err := call(); !errors.As(err, &ne) {
				t.Errorf("%s(schema %q): got %v, want a *schema.NameError", fn, name, err)
			}
		}
	}
}

// TestEmbedListEntriesRefusesUnknownKind: a kind that is none of Kinds()
// (a typo such as "withdrawals") is refused, not answered with an empty
// page as if the history had no such entry.
func TestEmbedListEntriesRefusesUnknownKind(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	if err := schema.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	es, err := tokenstd.ListEntries(ctx, db, schema.DefaultName, tokenstd.EntryFilter{Kinds: []tokenstd.Kind{tokenstd.KindDeposit, "withdrawals"}})
	if err == nil {
		t.Fatalf("ListEntries with the unknown kind %q: %d entries, no error", "withdrawals", len(es))
	}
}

package tokenstd_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

func noop(context.Context, *sqlx.Tx, *ingest.Batch) error { return nil }

// TestEmbedInterfacesWithoutTheViewsHistoryNeedsIsRefused: a non-empty
// ingest.Config.Interfaces replaces the token standard's list. One that
// lacks the Holding or TransferInstruction interface (an exchange asking
// for views of its own) made every deposit an "other" entry of amount 0,
// never credited, while Run returned nil. New refuses it, naming the
// interface, for the History handler alone or in a chain; a list holding
// both (by package name or by package id) is accepted.
func TestEmbedInterfacesWithoutTheViewsHistoryNeedsIsRefused(t *testing.T) {
	db := pgtest.NewDB(t)
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: "treasury::1220aa", Logger: quiet})
	require.NoError(t, err)
	own := ledger.MustParseIdentifier("#exchange-app:Exchange.Deposit:DepositAccount")
	byID := func(id ledger.Identifier) ledger.Identifier {
		id.PackageID = "1220cafe" // the package id a participant shows instead of its name
		return id
	}
	newWith := func(h ingest.Handler, ifaces ...ledger.Identifier) error {
		_, err := ingest.New(db, client, ingest.Config{Parties: []string{"treasury::1220aa"}, Interfaces: ifaces, Handler: h, Logger: quiet})
		return err
	}
	for name, h := range map[string]ingest.Handler{"History": history, "a chain": ingest.Handlers(ingest.HandlerFunc(noop), history)} {
		err := newWith(h, own)
		require.ErrorIs(t, err, ingest.ErrInterfacesMissing, name)
		require.ErrorContains(t, err, "Splice.Api.Token.HoldingV1:Holding", name)
		err = newWith(h, own, ledger.HoldingInterface)
		require.ErrorContains(t, err, "Splice.Api.Token.TransferInstructionV1:TransferInstruction", name)
		require.NoError(t, newWith(h, own, ledger.HoldingInterface, ledger.TransferInstructionInterface), name)
		require.NoError(t, newWith(h, byID(ledger.HoldingInterface), byID(ledger.TransferInstructionInterface)), name)
		require.NoError(t, newWith(h), name) // the default list
	}
	// A handler that needs no views may ask for any.
	require.NoError(t, newWith(ingest.HandlerFunc(noop), own))
}

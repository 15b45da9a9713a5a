package tokenstd_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// The exchange moves its treasury to a new party (a party migration that
// changes the party id: the old party sends everything to the new one)
// and restarts ingestion against the same Integration DB with the new
// party (-party, tokenstd.Config.Treasury and ingest.Config.Parties). The
// old party's holdings stay live in the holding set: their archive, seen
// as the new treasury, archives holdings that are not its own, so
// Balances counts them with the new party's, twice what the treasury
// holds, and nothing says so. The History handler must refuse a holding
// set that holds another party's live holdings, naming both parties,
// and write nothing.
func TestRV65ChangedTreasuryIsRefused(t *testing.T) {
	const oldParty, newParty, alice = "treasury-old::1220aa", "treasury-new::1220bb", "alice::1220cc"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(ctx, db))
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	defer client.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// AcceptPartiesChange gets past the Ingester's own refusal of the
	// changed parties (ErrPartiesChanged): the History handler's check is
	// what is tested, as for an Integration DB migrated from before
	// version 010, whose parties were not recorded.
	run := func(treasury string) error {
		history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quiet})
		require.NoError(t, err)
		ing, err := ingest.New(db, client, ingest.Config{Parties: []string{treasury}, Handler: history,
			EndOffset: p.LedgerEnd(), Logger: quiet, AcceptPartiesChange: true})
		require.NoError(t, err)
		return ing.Run(ctx)
	}

	w := &ledgertest.TokenWorld{}
	// The last transaction ingested for the old party is visible to the
	// new one too (it paid the old one), so the Ingester's check of the
	// last ingested transaction passes.
	_, err = p.Append(w.Mint(alice, "50"), w.Mint(oldParty, "100"), w.Mint(newParty, "1"),
		w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: oldParty, Amount: "10", Reason: "acct-7"}),
		w.Transfer(ledgertest.TransferSpec{Sender: newParty, Receiver: oldParty, Amount: "1"}))
	require.NoError(t, err)
	require.NoError(t, run(oldParty))
	before, err := tokenstd.Balances(ctx, db, schema.DefaultName)
	require.NoError(t, err)

	_, err = p.Append(w.Transfer(ledgertest.TransferSpec{Sender: oldParty, Receiver: newParty, Amount: "111"}),
		w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: newParty, Amount: "5", Reason: "acct-8"}))
	require.NoError(t, err)
	err = run(newParty)
	after, berr := tokenstd.Balances(ctx, db, schema.DefaultName)
	require.NoError(t, berr)
	require.Error(t, err, "ingestion restarted for treasury %s over the Integration DB of %s went on: Balances now %v, the new treasury holds %v",
		newParty, oldParty, after, w.Balances(newParty))
	require.ErrorIs(t, err, ingest.ErrDeploymentFault)
	require.ErrorContains(t, err, oldParty)
	require.ErrorContains(t, err, newParty)
	require.Equal(t, before, after, "the refused restart changed the holding set")
}

package ledgertest

import (
	"io"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// A deposit as TokenWorld makes it: alice's holding is spent (a consuming
// exercise that treasury, the receiver, witnesses as an informee of the
// transfer), treasury gets a new holding and alice her change. Canton's
// ACS delta is the requesting parties' own: a party sees the archive (and
// the create) of a contract only as its stakeholder, and the acs_delta
// flag of a LEDGER_EFFECTS event says whether it would be in that party's
// ACS_DELTA stream.
func depositLedger(t *testing.T) (*fixture, *ledger.Transaction) {
	t.Helper()
	f := setup(t)
	w := &TokenWorld{}
	_, err := f.p.Append(w.Mint("alice::1", "100"))
	require.NoError(t, err)
	got, err := f.p.Append(w.Transfer(TransferSpec{Sender: "alice::1", Receiver: "treasury::1", Amount: "40"}))
	require.NoError(t, err)
	return f, got[0]
}

// contractsOf returns the holdings of tx by owner (its created events) and
// the contract id of the holding it spends.
func contractsOf(t *testing.T, tx *ledger.Transaction) (byOwner map[string]string, spent string) {
	t.Helper()
	byOwner = map[string]string{}
	for _, ev := range tx.Events {
		switch e := ev.(type) {
		case *ledger.CreatedEvent:
			byOwner[e.Signatories[len(e.Signatories)-1]] = e.ContractID
		case *ledger.ExercisedEvent:
			if e.Consuming {
				spent = e.ContractID
			}
		}
	}
	require.Len(t, byOwner, 2)
	require.NotEmpty(t, spent)
	return byOwner, spent
}

func shapeRequest(shape lapiv2.TransactionShape, filters map[string]*lapiv2.Filters) *lapiv2.GetUpdatesRequest {
	req := &lapiv2.GetUpdatesRequest{BeginExclusive: 1, EndInclusive: proto.Int64(2), UpdateFormat: partyFormat(filters)}
	req.UpdateFormat.IncludeTransactions.TransactionShape = shape
	return req
}

// Reference, TRANSACTION_SHAPE_ACS_DELTA: the receiver of a transfer is no
// stakeholder of the sender's spent holding; a participant never shows it
// the archive of a contract whose create it was never shown.
func TestACSDeltaArchivesOnlyToStakeholders(t *testing.T) {
	f, tx := depositLedger(t)
	holdings, spent := contractsOf(t, tx)

	for party, want := range map[string][]string{
		"treasury::1": {"C " + holdings["treasury::1"]},
		"alice::1":    {"A " + spent, "C " + holdings["alice::1"]},
	} {
		txs, err := f.open(t, shapeRequest(lapiv2.TransactionShape_TRANSACTION_SHAPE_ACS_DELTA,
			map[string]*lapiv2.Filters{party: wildcard()})).rest()
		require.ErrorIs(t, err, io.EOF)
		require.Len(t, txs, 1)
		var got []string
		for _, ev := range txs[0].GetEvents() {
			switch x := ev.GetEvent().(type) {
			case *lapiv2.Event_Created:
				got = append(got, "C "+x.Created.GetContractId())
				assert.Equal(t, []string{party}, x.Created.GetWitnessParties())
			case *lapiv2.Event_Archived:
				got = append(got, "A "+x.Archived.GetContractId())
				assert.Equal(t, []string{party}, x.Archived.GetWitnessParties())
			}
		}
		assert.Equal(t, want, got, "ACS_DELTA for %s", party)
	}
}

// CreatedEvent.acs_delta and ExercisedEvent.acs_delta: "whether this event
// would be part of respective ACS_DELTA shaped stream" for the requesting
// parties. On treasury's LEDGER_EFFECTS stream alice's change and alice's
// spent holding are witnessed, not treasury's ACS.
func TestLedgerEffectsACSDeltaFlagIsTheRequestingParties(t *testing.T) {
	f, tx := depositLedger(t)
	holdings, spent := contractsOf(t, tx)

	flags := func(filters map[string]*lapiv2.Filters, any bool) map[string]bool {
		req := shapeRequest(lapiv2.TransactionShape_TRANSACTION_SHAPE_LEDGER_EFFECTS, filters)
		if any {
			req.UpdateFormat = anyPartyFormat(true)
		}
		txs, err := f.open(t, req).rest()
		require.ErrorIs(t, err, io.EOF)
		require.Len(t, txs, 1)
		out := map[string]bool{}
		for _, ev := range txs[0].GetEvents() {
			switch x := ev.GetEvent().(type) {
			case *lapiv2.Event_Created:
				out[x.Created.GetContractId()] = x.Created.GetAcsDelta()
			case *lapiv2.Event_Exercised:
				if x.Exercised.GetConsuming() {
					out[x.Exercised.GetContractId()] = x.Exercised.GetAcsDelta()
				}
			}
		}
		return out
	}
	assert.Equal(t, map[string]bool{holdings["treasury::1"]: true, holdings["alice::1"]: false, spent: false},
		flags(map[string]*lapiv2.Filters{"treasury::1": wildcard()}, false), "treasury's stream")
	assert.Equal(t, map[string]bool{holdings["treasury::1"]: false, holdings["alice::1"]: true, spent: true},
		flags(map[string]*lapiv2.Filters{"alice::1": wildcard()}, false), "alice's stream")
	assert.Equal(t, map[string]bool{holdings["treasury::1"]: true, holdings["alice::1"]: true, spent: true},
		flags(nil, true), "any party's stream: each is some witness's ACS change")
}

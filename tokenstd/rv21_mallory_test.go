package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// Mallory (forger) is any other party on the network: she writes her own
// templates, is the admin of her own instrument, and can make the treasury
// an observer of her contracts. Nothing she does alone may stop the
// treasury's ingestion under the default policies (PoisonHalt, Halt).

// malloryInstrument is an instrument whose registry is mallory's.
var malloryInstrument = ledgertest.TokenInstrument{Admin: forger, ID: "MAL"}

// malloryTx is a transaction of mallory's own holding events, for the
// participant to number.
func malloryTx(events ...ledger.Event) *ledger.Transaction {
	return &ledger.Transaction{Events: events}
}

// requireNotStoppedBy ingests, after a committed deposit, what mallory did
// (txs, or what add appends) and then alice's deposit of 7 Amulet for
// acct-3, with History and the Reconciler under the default policies: Run
// must ingest all of it and credit alice's deposit.
func requireNotStoppedBy(t *testing.T, what string, add func(r *rig, w *ledgertest.TokenWorld)) {
	t.Helper()
	r := newRig(t)
	w, _ := committedDeposit(t, r, ingest.PoisonHalt)
	add(r, w)
	r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "7", Reason: "acct-3"}))
	err := r.run(ingest.PoisonHalt)
	require.NoError(t, err, "%s stopped the treasury's ingestion", what)
	require.Equal(t, r.p.LedgerEnd(), r.checkpoint())
	require.Equal(t, 1, r.count(`SELECT count(*) FROM tokens.token_history
		WHERE kind = 'deposit' AND account = 'acct-3' AND amount = 7`), "alice's deposit after %s is not credited", what)
}

// A template may have a choice named as a token standard one: the Ledger
// API names the interface of an interface choice, and a choice without
// one is the template's own, with an argument and result of its own
// types. Mallory's contract, the treasury an observer, has choices named
// TransferFactory_Transfer and TransferInstruction_Withdraw taking and
// returning anything; she exercises them. Read as the standard's, their
// arguments are malformed: a ParseError that halted ingestion.
func TestMallorysChoiceNamedAsAStandardOneDoesNotHaltIngestion(t *testing.T) {
	for _, choice := range []string{"TransferFactory_Transfer", "TransferInstruction_Withdraw"} {
		t.Run(choice, func(t *testing.T) {
			requireNotStoppedBy(t, "mallory's own choice "+choice, func(r *rig, _ *ledgertest.TokenWorld) {
				r.append(malloryTx(&ledger.ExercisedEvent{
					ContractID: "00malloryCHOICE", TemplateID: forgedTemplate, Choice: choice,
					ChoiceArgument: ledger.Record(nil, ledger.F("anything", ledger.Int64(1))),
					ExerciseResult: ledger.Text("whatever"), ActingParties: []string{forger}, Consuming: true,
					WitnessParties: []string{treasury},
				}))
			})
		})
	}
}

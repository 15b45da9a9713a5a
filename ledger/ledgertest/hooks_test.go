package ledgertest

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// Intercept promises that a hook "may call the Participant's methods".
// Close is one of them: a test that simulates a participant crash on the
// n-th call does exactly this.
func TestInterceptHookMayClose(t *testing.T) {
	// No t.Cleanup(p.Close): on the old code the first Close never returns,
	// and a second one would wait for it forever.
	p, err := New()
	require.NoError(t, err)
	f := &fixture{p: p, state: lapiv2.NewStateServiceClient(dial(t, p.Addr()))}
	closed := make(chan struct{})
	f.p.Intercept("GetLedgerEnd", func(ctx context.Context, req proto.Message) error {
		f.p.Close()
		close(closed)
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	go f.state.GetLedgerEnd(ctx, &lapiv2.GetLedgerEndRequest{}) //nolint:errcheck
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("Close called from an Intercept hook did not return: it waits for the hook's own call")
	}
	// A second Close, outside the hook, returns once the shutdown is complete.
	again := make(chan struct{})
	go func() { p.Close(); close(again) }()
	select {
	case <-again:
	case <-time.After(3 * time.Second):
		t.Fatal("a second Close did not return")
	}
}

// TransferHistory promises that a withdrawal spends "the holding the
// deposit just before it created"; with WithdrawEvery 1 there is none, and
// the withdrawal spends the previous withdrawal's change as if it held a
// deposit's amount: its own change is more than the input could give.
func TestTransferHistoryWithdrawEveryOne(t *testing.T) {
	h := TransferHistory{Treasury: "treasury::1", WithdrawEvery: 1, Customers: 2}
	live := map[string]decimal.Decimal{} // treasury holdings by contract id
	spend := decimal.RequireFromString(WithdrawalAmount).Add(decimal.RequireFromString(WithdrawalFee))
	if refused := func() (r bool) {
		defer func() { r = recover() != nil }()
		h.Tx(1)
		return false
	}(); refused {
		return // refusing the impossible setting is a fix too
	}
	for i := range 4 {
		tx := h.Tx(i)
		var in, change decimal.Decimal
		for _, ev := range tx.Events {
			switch e := ev.(type) {
			case *ledger.CreatedEvent:
				v := e.InterfaceViews[0].Value
				if must(must(v.Get("owner")).AsParty()) == h.Treasury {
					a := must(must(v.Get("amount")).AsDecimal())
					live[e.ContractID] = a
					change = change.Add(a)
				}
			case *ledger.ExercisedEvent:
				if e.Consuming && e.Choice == "Archive" && h.IsWithdrawal(i) {
					a, ok := live[e.ContractID]
					require.True(t, ok, "withdrawal %d spends %s, no treasury holding", i, e.ContractID)
					in = in.Add(a)
					delete(live, e.ContractID)
				}
			}
		}
		if h.IsWithdrawal(i) {
			require.True(t, in.Sub(spend).Equal(change), "withdrawal %d: input %s - %s should leave change %s", i, in, spend, change)
		}
	}
}

// The package names the fake learns from appended events live in one map
// for the whole process: a package id one test (or one Participant) named
// changes what filters select on another Participant that never saw that
// name, so a test's result depends on which tests ran before it.
func TestPackageNamesDoNotLeakAcrossParticipants(t *testing.T) {
	id := ledger.Identifier{PackageID: "pkg-x", ModuleName: "X.Mod", EntityName: "T"}

	// An earlier test's participant names package pkg-x "other-name".
	first := setup(t)
	named := created("cid-1", id, "alice")
	named.PackageName = "other-name"
	_, err := first.p.Append(&ledger.Transaction{Events: []ledger.Event{named}})
	require.NoError(t, err)

	// This participant never learns the package's name, so a "#my-name"
	// filter cannot tell it apart (doc.go: "an id the fake cannot name is
	// not told apart from a name").
	f := setup(t)
	_, err = f.p.Append(&ledger.Transaction{Events: []ledger.Event{created("cid-2", id, "alice")}})
	require.NoError(t, err)
	ref := id
	ref.PackageID = "#my-name"
	req := &lapiv2.GetUpdatesRequest{EndInclusive: proto.Int64(1), UpdateFormat: partyFormat(map[string]*lapiv2.Filters{
		"alice": {Cumulative: []*lapiv2.CumulativeFilter{templateFilter(ref)}}})}
	txs, _ := f.open(t, req).rest()
	require.Len(t, txs, 1, "the event of an unnamed package is filtered out because another participant named it")
}

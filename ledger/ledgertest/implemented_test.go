package ledgertest

import (
	"io"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// implemented_interfaces of archived and consuming exercised events are,
// on a participant, "the interfaces implemented by the target template that
// have been matched from the interface filter query. Populated only in case
// interface filters with include_interface_view set" (the Ledger API's
// documentation), like the views of created events. A request without such
// a filter gets none: code that reads them works on the fake only.
func TestImplementedInterfacesOnlyForInterfaceFiltersWithViews(t *testing.T) {
	f := setup(t, WithCheckpointInterval(time.Hour))
	consuming := &ledger.ExercisedEvent{NodeID: 0, ContractID: "h1", TemplateID: amuletTemplate, Choice: "Transfer", Consuming: true,
		WitnessParties: []string{"alice"}, ImplementedInterfaces: []ledger.Identifier{holdingIface, otherIface}, LastDescendantNodeID: 1}
	fetch := &ledger.ExercisedEvent{NodeID: 1, ContractID: "h2", TemplateID: amuletTemplate, Choice: "Fetch",
		WitnessParties: []string{"alice"}, ImplementedInterfaces: []ledger.Identifier{holdingIface}, LastDescendantNodeID: 1}
	archived := &ledger.ArchivedEvent{NodeID: 0, ContractID: "h3", TemplateID: amuletTemplate,
		WitnessParties: []string{"alice"}, ImplementedInterfaces: []ledger.Identifier{holdingIface}}
	_, err := f.p.Append(&ledger.Transaction{Events: []ledger.Event{consuming, fetch}}, &ledger.Transaction{Events: []ledger.Event{archived}})
	require.NoError(t, err)

	// implemented returns the implemented interfaces' entity names per event.
	implemented := func(t *testing.T, filters ...*lapiv2.CumulativeFilter) [][]string {
		t.Helper()
		req := &lapiv2.GetUpdatesRequest{EndInclusive: proto.Int64(2),
			UpdateFormat: partyFormat(map[string]*lapiv2.Filters{"alice": {Cumulative: filters}})}
		txs, err := f.open(t, req).rest()
		require.ErrorIs(t, err, io.EOF)
		var out [][]string
		for _, tx := range txs {
			for _, e := range tx.GetEvents() {
				ids := append(e.GetExercised().GetImplementedInterfaces(), e.GetArchived().GetImplementedInterfaces()...)
				names := []string{}
				for _, id := range ids {
					names = append(names, id.GetEntityName())
				}
				out = append(out, names)
			}
		}
		return out
	}
	wildcard := &lapiv2.CumulativeFilter{IdentifierFilter: &lapiv2.CumulativeFilter_WildcardFilter{WildcardFilter: &lapiv2.WildcardFilter{}}}
	require.Equal(t, [][]string{{}, {}, {}}, implemented(t, wildcard), "no interface filter: none")
	require.Equal(t, [][]string{{}, {}, {}}, implemented(t, interfaceFilter(holdingIface, false)), "an interface filter without views: none")
	require.Equal(t, [][]string{{"Holding"}, {}, {"Holding"}}, implemented(t, wildcard, interfaceFilter(holdingIface, true)),
		"the interfaces of the filters with views, on archives and consuming exercises only")
}

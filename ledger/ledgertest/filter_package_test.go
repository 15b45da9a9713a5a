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

// A template or interface filter names a package (by id, or by name as
// "#name"); an event of the same module and entity in another package is not
// selected, as on a participant. A package the fake cannot name (an id no
// event gave a package name for) is not told apart.
func TestFiltersCompareThePackage(t *testing.T) {
	f := setup(t, WithCheckpointInterval(time.Hour))
	amulet := ledger.MustParseIdentifier("#splice-amulet:Splice.Amulet:Amulet")
	impostor := ledger.MustParseIdentifier("#fake-token:Splice.Amulet:Amulet")
	byID := ledger.Identifier{PackageID: "ab12", ModuleName: "Splice.Amulet", EntityName: "Amulet"}
	unnamed := ledger.Identifier{PackageID: "cd34", ModuleName: "Splice.Amulet", EntityName: "Amulet"}

	real := created("cid-real", amulet, "alice")
	real.PackageName = "splice-amulet"
	fake := created("cid-fake", impostor, "alice")
	fake.PackageName = "fake-token"
	named := created("cid-named", byID, "alice") // package ab12 is splice-amulet
	named.PackageName = "splice-amulet"
	other := created("cid-unnamed", unnamed, "alice")
	_, err := f.p.Append(&ledger.Transaction{Events: []ledger.Event{real}}, &ledger.Transaction{Events: []ledger.Event{fake}},
		&ledger.Transaction{Events: []ledger.Event{named}}, &ledger.Transaction{Events: []ledger.Event{other}})
	require.NoError(t, err)

	selected := func(filter *lapiv2.CumulativeFilter) []string {
		t.Helper()
		req := &lapiv2.GetUpdatesRequest{EndInclusive: proto.Int64(4), UpdateFormat: partyFormat(map[string]*lapiv2.Filters{
			"alice": {Cumulative: []*lapiv2.CumulativeFilter{filter}}})}
		txs, err := f.open(t, req).rest()
		require.ErrorIs(t, err, io.EOF)
		var cids []string
		for _, tx := range txs {
			for _, e := range tx.GetEvents() {
				cids = append(cids, e.GetCreated().GetContractId())
			}
		}
		return cids
	}
	require.Equal(t, []string{"cid-real", "cid-named", "cid-unnamed"}, selected(templateFilter(amulet)))
	require.Equal(t, []string{"cid-fake", "cid-unnamed"}, selected(templateFilter(impostor)))
	require.Equal(t, []string{"cid-real", "cid-named"}, selected(templateFilter(byID)), "another package id is another package")

	// The token standard interfaces of TokenWorld's holdings, by the
	// package-name references txhistory asks for.
	w := &TokenWorld{}
	_, err = f.p.Append(w.Mint("alice", "10"))
	require.NoError(t, err)
	views := func(iface ledger.Identifier) int {
		req := &lapiv2.GetUpdatesRequest{BeginExclusive: 4, EndInclusive: proto.Int64(f.p.LedgerEnd()), UpdateFormat: partyFormat(map[string]*lapiv2.Filters{
			"alice": {Cumulative: []*lapiv2.CumulativeFilter{interfaceFilter(iface, true)}}})}
		txs, err := f.open(t, req).rest()
		require.ErrorIs(t, err, io.EOF)
		n := 0
		for _, tx := range txs {
			for _, e := range tx.GetEvents() {
				n += len(e.GetCreated().GetInterfaceViews())
			}
		}
		return n
	}
	require.Equal(t, 1, views(ledger.HoldingInterface))
	wrong := ledger.HoldingInterface
	wrong.PackageID = "#splice-api-token-holding-v2"
	require.Zero(t, views(wrong), "a holding interface of another package")
}

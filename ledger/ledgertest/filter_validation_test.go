package ledgertest

import (
	"io"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// A template or interface filter whose identifier lacks its package, module
// or entity name is refused by a participant (INVALID_ARGUMENT
// INVALID_FIELD: Canton parses the module and entity as a qualified name
// and the package as a package reference, neither of which may be empty),
// on GetUpdates as on GetUpdateById. It must not select every package's
// template of that name, as if the package did not matter.
func TestFilterIdentifierWithoutPackageOrNameIsRefused(t *testing.T) {
	f := setup(t, WithCheckpointInterval(time.Hour))
	_, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)

	noPackage := amuletTemplate
	noPackage.PackageID = ""
	noModule := holdingIface
	noModule.ModuleName = ""
	noEntity := holdingIface
	noEntity.EntityName = ""
	cases := []struct {
		name   string
		filter *lapiv2.CumulativeFilter
	}{
		{"template without package", templateFilter(noPackage)},
		{"interface without package", interfaceFilter(ledger.Identifier{ModuleName: holdingIface.ModuleName, EntityName: holdingIface.EntityName}, true)},
		{"interface without module", interfaceFilter(noModule, true)},
		{"interface without entity", interfaceFilter(noEntity, true)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			format := partyFormat(map[string]*lapiv2.Filters{"alice": {Cumulative: []*lapiv2.CumulativeFilter{c.filter}}})
			r := f.open(t, &lapiv2.GetUpdatesRequest{EndInclusive: proto.Int64(1), UpdateFormat: format})
			requireError(t, r.end(), codes.InvalidArgument, "INVALID_FIELD")

			_, err := f.updates.GetUpdateById(ctxT(t), &lapiv2.GetUpdateByIdRequest{UpdateId: "upd-1", UpdateFormat: format})
			requireError(t, err, codes.InvalidArgument, "INVALID_FIELD")
		})
	}

	t.Run("complete identifiers still select", func(t *testing.T) {
		format := partyFormat(map[string]*lapiv2.Filters{"alice": {Cumulative: []*lapiv2.CumulativeFilter{templateFilter(amuletTemplate)}}})
		txs, err := f.open(t, &lapiv2.GetUpdatesRequest{EndInclusive: proto.Int64(1), UpdateFormat: format}).rest()
		require.ErrorIs(t, err, io.EOF)
		require.Len(t, txs, 1)
	})
}

// A CumulativeFilter that names nothing is a wildcard only when all of a
// party's cumulative filters are empty: next to a template or interface
// filter, a participant drops it (Canton's FormatValidator keeps the empty
// ones only if there is nothing else). The fake must not widen such a
// request to every template, or a test sees events production never
// delivers.
func TestEmptyCumulativeFilterBesideOthersSelectsNothing(t *testing.T) {
	f := setup(t, WithCheckpointInterval(time.Hour))
	_, err := f.p.Append(&ledger.Transaction{Events: []ledger.Event{created("a1", amuletTemplate, "alice"), created("t1", otherTemplate, "alice")}},
		&ledger.Transaction{Events: []ledger.Event{created("a2", amuletTemplate, "alice")}})
	require.NoError(t, err)

	contracts := func(t *testing.T, filters ...*lapiv2.CumulativeFilter) []string {
		t.Helper()
		req := &lapiv2.GetUpdatesRequest{EndInclusive: proto.Int64(2),
			UpdateFormat: partyFormat(map[string]*lapiv2.Filters{"alice": {Cumulative: filters}})}
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
	require.Equal(t, []string{"t1"}, contracts(t, &lapiv2.CumulativeFilter{}, templateFilter(otherTemplate)),
		"the empty cumulative filter beside a template filter selects nothing")
	require.Equal(t, []string{"a1", "t1", "a2"}, contracts(t, &lapiv2.CumulativeFilter{}, &lapiv2.CumulativeFilter{}),
		"only empty cumulative filters: a wildcard")
}

// A filter that names its package by id is resolved, on a participant, to
// that package's name (Canton logs that package ids in filters are
// deprecated and resolves the query "for the package-name pertaining to
// the requested package-id"): it selects the template in every version of
// the package, as a "#name" reference does, not in that one version only.
func TestFilterByPackageIDSelectsEveryVersionOfThePackage(t *testing.T) {
	f := setup(t, WithCheckpointInterval(time.Hour))
	v1 := ledger.Identifier{PackageID: "aa01", ModuleName: "Splice.Amulet", EntityName: "Amulet"}
	v2 := ledger.Identifier{PackageID: "bb02", ModuleName: "Splice.Amulet", EntityName: "Amulet"}
	other := ledger.Identifier{PackageID: "cc03", ModuleName: "Splice.Amulet", EntityName: "Amulet"}
	old := created("cid-v1", v1, "alice")
	old.PackageName = "splice-amulet"
	upgraded := created("cid-v2", v2, "alice")
	upgraded.PackageName = "splice-amulet"
	impostor := created("cid-other", other, "alice")
	impostor.PackageName = "fake-token"
	_, err := f.p.Append(&ledger.Transaction{Events: []ledger.Event{old}}, &ledger.Transaction{Events: []ledger.Event{upgraded}},
		&ledger.Transaction{Events: []ledger.Event{impostor}})
	require.NoError(t, err)

	req := &lapiv2.GetUpdatesRequest{EndInclusive: proto.Int64(3), UpdateFormat: partyFormat(map[string]*lapiv2.Filters{
		"alice": {Cumulative: []*lapiv2.CumulativeFilter{templateFilter(v1)}}})}
	txs, err := f.open(t, req).rest()
	require.ErrorIs(t, err, io.EOF)
	var cids []string
	for _, tx := range txs {
		for _, e := range tx.GetEvents() {
			cids = append(cids, e.GetCreated().GetContractId())
		}
	}
	require.Equal(t, []string{"cid-v1", "cid-v2"}, cids, "both versions of splice-amulet, not fake-token's template of the same name")
}

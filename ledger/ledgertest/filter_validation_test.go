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

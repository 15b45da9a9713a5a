package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

func metadataValue(m map[string]string) ledger.Value {
	id := ledger.Identifier{PackageID: "p", ModuleName: tokenstd.ModuleMetadata, EntityName: "Metadata"}
	return ledger.Record(&id, ledger.F("values", ledger.TextMapOf(m)))
}

// TestMetadataEmptyIsNil: empty metadata decodes and merges to nil, as the
// store reads it back, so that entries compare equal however they were
// made.
func TestMetadataEmptyIsNil(t *testing.T) {
	m, err := tokenstd.DecodeMetadata(metadataValue(map[string]string{}))
	require.NoError(t, err)
	require.Nil(t, m)
	m, err = tokenstd.DecodeMetadata(metadataValue(map[string]string{"k": "v"}))
	require.NoError(t, err)
	require.Equal(t, tokenstd.Metadata{"k": "v"}, m)

	require.Nil(t, tokenstd.Metadata(nil).Merge())
	require.Nil(t, tokenstd.Metadata{}.Merge(nil, tokenstd.Metadata{}))
}

// TestMetadataMerge: later inputs win, and the result is a new map.
func TestMetadataMerge(t *testing.T) {
	a := tokenstd.Metadata{"k": "a", "x": "1"}
	b := tokenstd.Metadata{"k": "b"}
	got := a.Merge(nil, b)
	require.Equal(t, tokenstd.Metadata{"k": "b", "x": "1"}, got)
	got["x"] = "changed"
	require.Equal(t, "1", a["x"], "the result does not alias an input")
	require.Equal(t, tokenstd.Metadata{"k": "b"}, tokenstd.Metadata(nil).Merge(b))
}

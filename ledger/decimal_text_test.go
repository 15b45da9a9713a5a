package ledger_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// A malformed numeric is a numeric: its error must say what is wrong with
// the text, not that a numeric was wanted and a numeric found.
func TestMalformedNumericErrorIsClear(t *testing.T) {
	for _, s := range []string{"1e5", "12,5", "1234567890123456789012345678901234567890"} {
		_, err := ledger.Numeric(s).AsDecimal()
		require.Error(t, err, s)
		require.NotContains(t, err.Error(), "want numeric, got numeric", s)
	}
	// A value of another kind still says so.
	_, err := ledger.Text("1").AsDecimal()
	require.ErrorContains(t, err, "want numeric, got text")
}

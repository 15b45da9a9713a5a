package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// NewHistory copies Config.Instruments, so that the caller's slice cannot
// change what it books; the Classifier it returns must not hand out its
// own list either: a caller writing to the returned Instruments would
// change the instruments the History counts.
func TestClassifierDoesNotShareTheHistorysInstruments(t *testing.T) {
	h, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Instruments: []tokenstd.Instrument{amulet}})
	require.NoError(t, err)
	c := h.Classifier()
	require.Equal(t, []tokenstd.Instrument{amulet}, c.Instruments)
	c.Instruments[0] = tokenstd.Instrument{Admin: forger, ID: "MAL"}
	require.Equal(t, []tokenstd.Instrument{amulet}, h.Classifier().Instruments, "the History's list changed through its Classifier")
}

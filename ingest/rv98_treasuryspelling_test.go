package ingest_test

import (
	"strconv"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// A History whose Treasury is the party of Parties spelled otherwise (a
// trailing space from a configuration file) is refused, and the error
// quotes the party as it quotes Parties, so that the operator sees how the
// two differ instead of the same name on both sides.
func TestNewRefusalQuotesTheTreasury(t *testing.T) {
	b := setup(t)
	spelled := treasury + " "
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: spelled, Logger: quietLog})
	require.NoError(t, err)
	_, err = ingest.New(b.db, b.client, ingest.Config{Parties: []string{treasury}, Handler: history, Logger: quietLog})
	require.Error(t, err)
	require.ErrorContains(t, err, strconv.Quote(spelled), "the error does not show the treasury's spelling")
}

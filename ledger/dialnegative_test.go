package ledger_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cantonx/txhistory/ledger"
)

// A negative MaxRecvMsgSize is refused by name rather than taken for the
// default of 64 MiB.
func TestDialRefusesNegativeMaxRecvMsgSize(t *testing.T) {
	_, err := ledger.Dial(ledger.Config{
		LedgerAPI:      ledger.Endpoint{Target: "127.0.0.1:1", Insecure: true},
		MaxRecvMsgSize: -1,
	})
	require.ErrorContains(t, err, "MaxRecvMsgSize is negative (-1)")
}

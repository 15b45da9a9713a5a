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

// WithDefaults fills the zero sizes with the documented defaults, keeps what
// is set (negative values included, for Dial to judge), and touches no
// other field.
func TestConfigWithDefaults(t *testing.T) {
	got := ledger.Config{LedgerAPI: ledger.Endpoint{Target: "ledger:5001"}}.WithDefaults()
	require.Equal(t, ledger.DefaultMaxRecvMsgSize, got.MaxRecvMsgSize)
	require.Equal(t, ledger.DefaultReceiveWindow, got.ReceiveWindow)
	require.Equal(t, "ledger:5001", got.LedgerAPI.Target)

	set := ledger.Config{MaxRecvMsgSize: 8 << 20, ReceiveWindow: -1}.WithDefaults()
	require.Equal(t, 8<<20, set.MaxRecvMsgSize)
	require.Equal(t, -1, set.ReceiveWindow, "a negative window asks for gRPC's dynamic one and must stay negative")

	neg := ledger.Config{MaxRecvMsgSize: -1}.WithDefaults()
	require.Equal(t, -1, neg.MaxRecvMsgSize, "a negative size is Dial's to refuse, not WithDefaults' to replace")
}

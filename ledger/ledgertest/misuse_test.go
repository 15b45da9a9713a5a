package ledgertest

import (
	"testing"

	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// FailNext with codes.OK cannot fail a call: a gRPC status OK is no error.
// Accepting it lets a test of the client's error handling pass without the
// client ever seeing an error, so it is a bug in the test, refused as a
// misspelt method name is.
func TestFailNextRefusesCodeOK(t *testing.T) {
	f := setup(t)
	require.Panics(t, func() { f.p.FailNext("GetLedgerEnd", 1, codes.OK) },
		"FailNext with codes.OK was accepted: it injects no fault")
	_, err := f.state.GetLedgerEnd(ctxT(t), &lapiv2.GetLedgerEndRequest{})
	require.NoError(t, err)
}

package ledgertest

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
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

// Append refuses a nil transaction with an error; a nil event is the same
// bug in the test. It must not vanish from the transaction (the stream
// then shows one event fewer than the test wrote), nor crash Append with a
// nil dereference, and nothing of the call may be appended.
func TestAppendRefusesNilEvents(t *testing.T) {
	p, err := New()
	require.NoError(t, err)
	defer p.Close()
	var typedNil *ledger.CreatedEvent
	for name, ev := range map[string]ledger.Event{"nil": nil, "nil *CreatedEvent": typedNil} {
		t.Run(name, func(t *testing.T) {
			var got []*ledger.Transaction
			require.NotPanics(t, func() {
				got, err = p.Append(txFor("alice"), &ledger.Transaction{Events: []ledger.Event{created("c", amuletTemplate, "alice"), ev}})
			}, "Append crashed on a %s event", name)
			var kept []int
			for _, tx := range got {
				kept = append(kept, len(tx.Events))
			}
			require.Error(t, err, "Append accepted a %s event; events kept per transaction: %v", name, kept)
			require.Contains(t, err.Error(), "event 1 is nil")
			require.Zero(t, p.LedgerEnd(), "a failed Append stored transactions")
		})
	}
}

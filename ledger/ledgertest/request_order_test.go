package ledgertest

import (
	"testing"

	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// A participant checks a GetUpdates request in this order: the offsets'
// signs, then both offsets against the ledger end (OUT_OF_RANGE
// OFFSET_AFTER_LEDGER_END, retryable), then the update format, and only
// when it opens the range does it compare begin and end (FAILED_PRECONDITION
// OFFSET_OUT_OF_RANGE). A request that breaks several rules gets the first
// one's error: a client waiting on OFFSET_AFTER_LEDGER_END must see it on
// the fake too, not a non-retryable error production never sends for it.
func TestGetUpdatesChecksTheLedgerEndFirst(t *testing.T) {
	f := setup(t)
	for range 10 {
		_, err := f.p.Append(txFor("alice"))
		require.NoError(t, err)
	}

	t.Run("begin after ledger end and after end", func(t *testing.T) {
		requireError(t, f.open(t, bounded(12, 11)).end(), codes.OutOfRange, ErrorIDOffsetAfterLedgerEnd)
	})
	t.Run("begin after ledger end without update format", func(t *testing.T) {
		requireError(t, f.open(t, &lapiv2.GetUpdatesRequest{BeginExclusive: 11}).end(), codes.OutOfRange, ErrorIDOffsetAfterLedgerEnd)
	})
	t.Run("end before begin without update format", func(t *testing.T) {
		req := &lapiv2.GetUpdatesRequest{BeginExclusive: 8, EndInclusive: proto.Int64(6)}
		requireError(t, f.open(t, req).end(), codes.InvalidArgument, ErrorIDMissingField)
	})
	t.Run("end before begin", func(t *testing.T) {
		requireError(t, f.open(t, bounded(8, 6)).end(), codes.FailedPrecondition, ErrorIDOffsetOutOfRange)
	})
}

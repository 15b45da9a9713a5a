package ingest_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// UNKNOWN without a Canton error id is what grpc-go makes of a proxy's
// HTTP 500 (or 501, 505…) in front of the participant, and what Canton
// sends, redacted, for its MaliciousOrFaultyBehaviour category: a fault of
// the moment as often as not, like INTERNAL without an id. Ingestion
// retries it with backoff, as it does INTERNAL, instead of stopping until
// someone restarts it; the database ends as after an undisturbed run.
func TestUnknownWithoutErrorIDIsRetried(t *testing.T) {
	faulty := requireSameAsUndisturbed(t, 120, func(p *ledgertest.Participant) {
		p.DropStreamsAfter(50)
		p.FailNext("GetUpdates", 2, codes.Unknown)
	})
	require.Greater(t, faulty.p.Calls("GetUpdates"), 3, "the UNKNOWN answers were retried")
}

package ingest_test

import (
	"testing"

	"github.com/cantonx/txhistory/ingest"
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
	clean := setup(t)
	faulty := setup(t)
	for _, b := range []*testBundle{clean, faulty} {
		appendN(t, b.p, 0, 120)
	}
	runToEnd(t, clean, ingest.Config{MaxBatchSize: 25})

	faulty.p.DropStreamsAfter(50)
	faulty.p.FailNext("GetUpdates", 2, codes.Unknown)
	runToEnd(t, faulty, ingest.Config{MaxBatchSize: 25})

	want, got := readState(t, clean.db), readState(t, faulty.db)
	require.Equal(t, want.Effects, got.Effects)
	require.Equal(t, want.Checkpoint, got.Checkpoint)
	require.Greater(t, faulty.p.Calls("GetUpdates"), 3, "the UNKNOWN answers were retried")
	requireAllOnce(t, faulty)
}

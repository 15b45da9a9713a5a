package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/metrics"
	"github.com/stretchr/testify/require"
)

// TestRV180StandbyReasonNamesAnUnknownLedgerEnd: a standby stays healthy
// (/healthz is a liveness probe), but when it cannot ask its participant
// for the ledger end, or read the stored checkpoint, txhistory_ledger_reachable
// is 0 and docs/OPERATIONS.md says "the /healthz reason tells which". The
// reason said only "standby: another ingester holds the schema's lock":
// an operator could not tell a standby ready to take over from one that
// cannot reach its participant (seen with ingestd -ledger pointing at a
// closed port while another instance held the lock).
func TestRV180StandbyReasonNamesAnUnknownLedgerEnd(t *testing.T) {
	clk := &clock{t: t0}
	stats := sampleStats()
	stats.State = ingest.StateWaitingForLock
	lagErr := error(nil)
	h := metrics.Handler(func() ingest.Stats { return stats }, metrics.Options{
		Now:          clk.Now,
		LedgerEndLag: func(context.Context) (int64, error) { return 3, lagErr },
	})
	code, got := health(t, h)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "standby: another ingester holds the schema's lock", got.Reason)

	lagErr = errors.New("ledger: GetLedgerEnd: Unavailable: connection refused")
	code, got = health(t, h)
	require.Equal(t, http.StatusOK, code, "a standby is live whatever its participant")
	require.Contains(t, got.Reason, "standby: another ingester holds the schema's lock")
	require.Contains(t, got.Reason, "the lag behind the participant's ledger end is unknown: ledger: GetLedgerEnd: Unavailable: connection refused")
	_, _, body := get(t, h, "/metrics")
	require.Equal(t, 0.0, parse(t, body)["txhistory_ledger_reachable"])
}

package metrics_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/metrics"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// TestRV182HealthReasonBoundsTheLedgerEndError: the /healthz reason quotes
// the participant's refusal of GetLedgerEnd whole, and a participant or a
// proxy before it may say a lot (a megabyte here; gRPC takes up to 16 MiB
// of trailers): every liveness probe then carries it. The reason keeps the
// refusal's start, enough to tell which, and stays short.
func TestRV182HealthReasonBoundsTheLedgerEndError(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	msg := "PROXY_REFUSED(1,0): " + strings.Repeat("é", 1<<19)
	p.Intercept(ledgertest.MethodGetLedgerEnd, func(context.Context, proto.Message) error {
		return status.Error(codes.Unavailable, msg)
	})
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	defer c.Close()

	healthWithLedgerEnd(t, c.LedgerEnd, func(state ingest.State, got metrics.Health) {
		require.Contains(t, got.Reason, "ledger: GetLedgerEnd: Unavailable: PROXY_REFUSED(1,0): éé", state)
		require.Less(t, len(got.Reason), 2000, state)
	})
}

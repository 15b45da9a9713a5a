package main

import (
	"os"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// docs/OPERATIONS.md's runbook pointer for `Unauthenticated` /
// `PermissionDenied` ("user without CanReadAs") promises that the error
// names what to renew. The participant's PERMISSION_DENIED says nothing
// (Canton's redacted "An error occurred. Please contact the operator …"):
// ingestd must say that the token's user lacks the rights to read the
// treasury party, and which token it sent, for an operator to know what to
// fix; a supervisor restarting it meets the same refusal.
func TestPermissionDeniedSaysWhatToFix(t *testing.T) {
	p, err := ledgertest.New(ledgertest.WithToken("static-token-S3CRET"))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	_, err = p.Append(demoTxs(demoParty, 0, 5)...)
	require.NoError(t, err)
	p.FailNext(ledgertest.MethodGetUpdates, 1000, codes.PermissionDenied)
	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: pgtest.NewDSN(t),
		"TXHISTORY_PLAINTEXT": "true", conn.EnvToken: "static-token-S3CRET"}
	logs := &syncbuf.Buffer{}
	code, _ := runDaemon([]string{"-metrics-addr", "127.0.0.1:0"}, env, logs, make(chan os.Signal, 1))
	c, msg := stoppedBy(t, code, logs)
	require.Equal(t, 1, c, logs.String())
	require.Contains(t, msg, "PermissionDenied")
	require.Contains(t, msg, "CanReadAs", "the error does not say which right the token's user lacks")
	require.Contains(t, msg, "$TXHISTORY_TOKEN", "the error does not name the token's setting")
	require.NotContains(t, logs.String(), "S3CRET")
}

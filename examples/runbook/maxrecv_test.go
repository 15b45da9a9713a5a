package main

import (
	"bytes"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/stretchr/testify/require"
)

// The runbook connects with the daemon's environment (docs/OPERATIONS.md),
// but it read no $TXHISTORY_MAX_RECV_MSG_SIZE and had no
// -max-recv-msg-size: where ingestd needed a raised limit for a big
// transaction of the treasury (the last one ingested, say), the runbook's
// look-up of that transaction failed with the default 64 MiB and nothing
// could raise it. Set below the size of the treasury's transactions, the
// variable must reach the runbook's client (step 5 fails, naming the
// setting); the flag wins over it, and a value that is not a positive size
// is a configuration error.
func TestMaxRecvMsgSizeFromTheDaemonsEnvironment(t *testing.T) {
	r := newRestored(t, nil)
	env := envOf(map[string]string{
		conn.EnvLedger: r.p.Addr(), conn.EnvAdmin: r.p.AdminAddr(), conn.EnvParty: treasury, conn.EnvDSN: r.dsn,
		"TXHISTORY_PLAINTEXT": "true", "TXHISTORY_MAX_RECV_MSG_SIZE": "64",
	})
	var out, errOut bytes.Buffer
	require.Equal(t, 1, run([]string{"-poll", "10ms", "-timeout", "10s"}, env, &out, &errOut), "out:\n%s\nerr:\n%s", out.String(), errOut.String())
	require.Contains(t, errOut.String(), "larger than the client takes")
	require.Contains(t, errOut.String(), "-max-recv-msg-size")

	out.Reset()
	errOut.Reset()
	require.Equal(t, 0, run([]string{"-poll", "10ms", "-max-recv-msg-size", "1048576"}, env, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), dryRun)

	for _, bad := range []string{"0", "-1", "4294967296"} {
		errOut.Reset()
		require.Equal(t, 2, run([]string{"-max-recv-msg-size", bad}, env, &out, &errOut), bad)
		require.Contains(t, errOut.String(), "-max-recv-msg-size "+bad)
	}
	errOut.Reset()
	malformed := envOf(map[string]string{conn.EnvLedger: r.p.Addr(), conn.EnvAdmin: r.p.AdminAddr(), conn.EnvParty: treasury, conn.EnvDSN: r.dsn,
		"TXHISTORY_PLAINTEXT": "true", "TXHISTORY_MAX_RECV_MSG_SIZE": "lots"})
	require.Equal(t, 2, run(nil, malformed, &out, &errOut))
	require.Contains(t, errOut.String(), `$TXHISTORY_MAX_RECV_MSG_SIZE="lots"`)
}

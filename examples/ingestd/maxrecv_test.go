package main

import (
	"io"
	"os"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/require"
)

// A transaction over the client's limit (64 MiB by default: a big batch
// payout, an airdrop) stops ingestion, and docs/OPERATIONS.md tells the
// operator to raise it; ingestd had no setting for it, so its operators
// could not. -max-recv-msg-size (or $TXHISTORY_MAX_RECV_MSG_SIZE) reaches
// the ledger client: set below the size of the treasury's transactions it
// stops the daemon with the limit's error naming the flag.
func TestMaxRecvMsgSizeReachesTheClient(t *testing.T) {
	base := map[string]string{conn.EnvLedger: "validator:5001", conn.EnvParty: "treasury::1", conn.EnvDSN: "postgres://u:pw@db/x"}
	c, err := parseConfig(nil, envOf(base), io.Discard)
	require.NoError(t, err)
	require.Equal(t, ledger.DefaultMaxRecvMsgSize, c.maxRecvMsgSize)
	env := map[string]string{"TXHISTORY_MAX_RECV_MSG_SIZE": "134217728"}
	for k, v := range base {
		env[k] = v
	}
	c, err = parseConfig(nil, envOf(env), io.Discard)
	require.NoError(t, err)
	require.Equal(t, 128<<20, c.maxRecvMsgSize)
	for _, bad := range []string{"0", "-1"} {
		_, err = parseConfig([]string{"-max-recv-msg-size", bad}, envOf(base), io.Discard)
		require.ErrorContains(t, err, "-max-recv-msg-size "+bad+": must be positive")
	}

	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	_, err = p.Append(demoTxs(demoParty, 0, 5)...)
	require.NoError(t, err)
	run := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: pgtest.NewDSN(t), "TXHISTORY_PLAINTEXT": "true"}
	logs := &syncbuf.Buffer{}
	code, _ := runDaemon([]string{"-metrics-addr", "", "-max-recv-msg-size", "64"}, run, logs, make(chan os.Signal, 1))
	exit, msg := stoppedBy(t, code, logs)
	require.Equal(t, 1, exit, logs.String())
	require.Contains(t, msg, "larger than the client takes")
	require.Contains(t, msg, "-max-recv-msg-size")
}

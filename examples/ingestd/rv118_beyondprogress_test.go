package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// TestProgressBeyondTheLedgerEndIsNotTailing: an Integration DB started
// from a -start-offset beyond the participant's ledger end (another
// participant's numbering, a typo) waits for ever, ingesting nothing
// (docs/OPERATIONS.md, runbook pointers). Its progress lines said
// "ingestd: tailing" (a negative lag is not more than the offsets
// advanced) at INFO, every interval: the line an operator reads as
// "ingesting, up to date". They must say that it waits for the ledger end.
func TestProgressBeyondTheLedgerEndIsNotTailing(t *testing.T) {
	p, dsn, _ := demoLedger(t, 5)
	beyond := p.LedgerEnd() + 1000

	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: dsn, "TXHISTORY_PLAINTEXT": "true"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, ready := runDaemon([]string{"-metrics-addr", "127.0.0.1:0", "-progress", "50ms", "-start-offset", strconv.FormatInt(beyond, 10)}, env, logs, sigs)
	waitReady(t, code, ready, logs)
	require.Eventually(t, func() bool { return strings.Count(logs.String(), `"ledger_end_lag":-`) >= 3 }, 30*time.Second, 20*time.Millisecond,
		"no progress lines with the checkpoint beyond the ledger end:\n%s", logs.String())
	sigs <- syscall.SIGTERM
	require.Equal(t, 0, <-code, logs.String())

	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"ledger_end_lag":-`) {
			require.NotContains(t, line, `"msg":"ingestd: tailing"`, "a checkpoint beyond the ledger end, nothing ingested, logged as tailing")
			require.NotContains(t, line, `"msg":"ingestd: catching up"`)
			require.Contains(t, line, `"msg":"ingestd: waiting for the participant's ledger end`)
			require.Contains(t, line, `"level":"WARN"`)
		}
	}
}

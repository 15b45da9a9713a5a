package main

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/require"
)

// A -ledger (or -admin) that is not host:port with a port that can be
// dialled is a malformed setting: a configuration error (exit 2) naming
// the flag, as -metrics-addr's is, not a participant taken for unavailable
// and retried for ever ("Unavailable: … invalid port" in every retry line,
// the daemon never exiting).
func TestMalformedLedgerTargetIsAConfigurationError(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	for _, c := range []struct{ env, value, flag string }{
		{conn.EnvLedger, "127.0.0.1:99999", "-ledger"},
		{conn.EnvLedger, "validator:grpc", "-ledger"},
		{conn.EnvAdmin, "127.0.0.1:70000", "-admin"},
	} {
		t.Run(c.value, func(t *testing.T) {
			env := map[string]string{conn.EnvLedger: "127.0.0.1:5001", conn.EnvParty: demoParty, conn.EnvDSN: dsn, "TXHISTORY_PLAINTEXT": "true"}
			env[c.env] = c.value
			logs := &syncbuf.Buffer{}
			sigs := make(chan os.Signal, 2)
			code, _ := runDaemon([]string{"-metrics-addr", ""}, env, logs, sigs)
			select {
			case got := <-code:
				require.Equal(t, 2, got, logs.String())
			case <-time.After(10 * time.Second):
				sigs <- syscall.SIGTERM
				<-code
				t.Fatalf("still running 10 s after start with %s %s (exit 2 expected at once):\n%s", c.flag, c.value, logs.String())
			}
			require.Contains(t, logs.String(), c.flag)
			require.Contains(t, logs.String(), c.value)
		})
	}
}

package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/require"
)

// TestRV183LedgerTargetPasswordStaysOutOfTheLog: a -ledger given with
// credentials, as a gRPC target has them without a scheme
// ("dns:///user:password@host:port", which -ledger takes, or
// "user:password@host:port", which it refuses), must not reach the log
// with its password: not in the refusal (exit 2), not in the start line
// or the -plaintext warning that name the target, not in the retry lines
// quoting gRPC's refusal. The participant (TEST-NET-1) is never reached.
func TestRV183LedgerTargetPasswordStaysOutOfTheLog(t *testing.T) {
	const secret = "s3cret-rv183"
	dsn := pgtest.NewDSN(t)
	t.Run("refused", func(t *testing.T) {
		env := map[string]string{conn.EnvLedger: "treasury:" + secret + "@192.0.2.1:5001", conn.EnvParty: demoParty, conn.EnvDSN: dsn, "TXHISTORY_PLAINTEXT": "true"}
		logs := &syncbuf.Buffer{}
		code, _ := runDaemon([]string{"-metrics-addr", ""}, env, logs, make(chan os.Signal, 1))
		select {
		case got := <-code:
			require.Equal(t, 2, got, logs.String())
		case <-time.After(10 * time.Second):
			t.Fatalf("still running 10 s after start:\n%s", logs.String())
		}
		require.Contains(t, logs.String(), "-ledger")
		require.Contains(t, logs.String(), "192.0.2.1:5001", "the refusal still names the address")
		require.NotContains(t, logs.String(), secret)
	})
	t.Run("taken", func(t *testing.T) {
		env := map[string]string{conn.EnvLedger: "dns:///treasury:" + secret + "@192.0.2.1:5001", conn.EnvParty: demoParty, conn.EnvDSN: dsn,
			"TXHISTORY_PLAINTEXT": "true", "TXHISTORY_INSTRUMENTS": "Amulet@DSO::1220d50", conn.EnvToken: "a-secret-token"}
		logs := &syncbuf.Buffer{}
		sigs := make(chan os.Signal, 1)
		code, _ := runDaemon([]string{"-metrics-addr", "127.0.0.1:0", "-progress", "100ms"}, env, logs, sigs)
		ok := assertEventually(func() bool {
			s := logs.String()
			return strings.Contains(s, plaintextTokenWarning) && strings.Contains(s, `"msg":"ingestd: started"`) && strings.Contains(s, "too many colons")
		}, 15*time.Second)
		sigs <- syscall.SIGTERM
		<-code
		require.True(t, ok, "no warning, start line or refusal:\n%s", logs.String())
		require.Contains(t, logs.String(), "192.0.2.1:5001", "the log still names the address")
		require.NotContains(t, logs.String(), secret)
		require.NotContains(t, logs.String(), "a-secret-token")
	})
}

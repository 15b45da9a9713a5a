package main

import (
	"io"
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

const plaintextTokenWarning = `"msg":"ingestd: -plaintext to a participant that is not on this machine's loopback`

// -plaintext with a bearer token to a host that is not loopback sends the
// token unencrypted across the network: allowed (an in-cluster link may be
// trusted), but said at start, naming the endpoint and not the token. The
// participant here (TEST-NET-1) is never reached: the warning comes first.
func TestPlaintextTokenToARemoteHostWarns(t *testing.T) {
	env := map[string]string{conn.EnvLedger: "192.0.2.1:5001", conn.EnvParty: demoParty, conn.EnvDSN: pgtest.NewDSN(t),
		"TXHISTORY_PLAINTEXT": "true", "TXHISTORY_INSTRUMENTS": "Amulet@DSO::1220d50", conn.EnvToken: "a-secret-token"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, _ := runDaemon([]string{"-metrics-addr", "127.0.0.1:0"}, env, logs, sigs)
	ok := assertEventually(func() bool { return strings.Contains(logs.String(), plaintextTokenWarning) }, 10*time.Second)
	sigs <- syscall.SIGTERM
	<-code
	require.True(t, ok, "no warning:\n%s", logs.String())
	require.Contains(t, logs.String(), `"target":"192.0.2.1:5001"`)
	require.NotContains(t, logs.String(), "a-secret-token", "the token reached the log")
}

// assertEventually polls cond until it holds or d has passed.
func assertEventually(cond func() bool, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// The warning's rule: -plaintext, a token of any kind, and -ledger or
// -admin off the loopback.
func TestRemotePlaintextTarget(t *testing.T) {
	base := map[string]string{conn.EnvParty: demoParty, conn.EnvDSN: "postgres://localhost/integration", "TXHISTORY_PLAINTEXT": "true"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"remote, static token", map[string]string{conn.EnvLedger: "validator:5001", conn.EnvToken: "t"}, "validator:5001"},
		{"remote, token file", map[string]string{conn.EnvLedger: "validator:5001", "TXHISTORY_TOKEN_FILE": "/run/token"}, "validator:5001"},
		{"remote, no token", map[string]string{conn.EnvLedger: "validator:5001"}, ""},
		{"loopback, token", map[string]string{conn.EnvLedger: "127.0.0.1:5001", conn.EnvToken: "t"}, ""},
		{"loopback ledger, remote admin", map[string]string{conn.EnvLedger: "localhost:5001", "TXHISTORY_ADMIN": "validator:5002", conn.EnvToken: "t"}, "validator:5002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := parseConfig(nil, envOf(env), io.Discard)
			require.NoError(t, err)
			require.Equal(t, tc.want, c.remotePlaintextTarget())
		})
	}
	withTLS := map[string]string{conn.EnvParty: demoParty, conn.EnvDSN: "postgres://localhost/integration", conn.EnvLedger: "validator:5001", conn.EnvToken: "t"}
	c, err := parseConfig(nil, envOf(withTLS), io.Discard)
	require.NoError(t, err)
	require.Empty(t, c.remotePlaintextTarget(), "TLS: no warning")
}

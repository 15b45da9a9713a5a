package main

import (
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// An -oauth-token-url the client refuses to send the client secret to
// (plain http to a host that is not a loopback address, without
// -oauth-plaintext-token-url) is a configuration error: exit 2 naming the
// setting, before anything is dialled, as docs/OPERATIONS.md says of a
// malformed setting; not a fatal ingestion error (exit 1) at the first
// call, whose error names the library's WithPlaintextTokenURL.
func TestPlainHTTPTokenURLIsAConfigurationError(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { lis.Close() })
	var dialled atomic.Int32
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			dialled.Add(1)
			c.Close()
		}
	}()
	host, port, err := net.SplitHostPort(lis.Addr().String())
	require.NoError(t, err)
	env := map[string]string{conn.EnvLedger: lis.Addr().String(), conn.EnvParty: demoParty, "TXHISTORY_PLAINTEXT": "true",
		conn.EnvDSN: "postgres://u:pw@" + host + ":" + port + "/x?sslmode=disable", conn.EnvClientSecret: "S3cretPw",
		"TXHISTORY_OAUTH_TOKEN_URL": "http://idp.example.com/oauth/token", "TXHISTORY_OAUTH_CLIENT_ID": "ingester"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 2)
	code, _ := runDaemon([]string{"-metrics-addr", ""}, env, logs, sigs)
	select {
	case c := <-code:
		require.Equal(t, 2, c, logs.String())
	case <-time.After(10 * time.Second):
		sigs <- syscall.SIGTERM
		<-code
		t.Fatalf("still running 10 s after start (exit 2 expected at once):\n%s", logs.String())
	}
	require.Contains(t, logs.String(), "-oauth-plaintext-token-url")
	require.NotContains(t, logs.String(), "S3cretPw")
	require.Zero(t, dialled.Load(), "dialled despite a configuration error")
}

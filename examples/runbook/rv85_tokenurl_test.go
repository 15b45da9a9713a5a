package main

import (
	"bytes"
	"net"
	"sync/atomic"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/stretchr/testify/require"
)

// An -oauth-token-url the client refuses to send the client secret to
// (plain http to a host that is not a loopback address, without
// -oauth-plaintext-token-url) is a configuration error (exit 2) naming the
// setting, found before anything is dialled, as the doc promises of a
// malformed setting: not a failed step (exit 1) whose error, the token
// source's, names the library's WithPlaintextTokenURL.
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
	args := []string{"-ledger", lis.Addr().String(), "-admin", lis.Addr().String(), "-party", treasury,
		"-oauth-token-url", "http://idp.example.com/oauth/token", "-oauth-client-id", "runbook"}
	env := map[string]string{conn.EnvDSN: "postgres://u:pw@" + host + ":" + port + "/x?sslmode=disable", conn.EnvClientSecret: "S3cretPw"}
	var out, errOut bytes.Buffer
	require.Equal(t, 2, run(args, envOf(env), &out, &errOut), errOut.String())
	require.Contains(t, errOut.String(), "-oauth-plaintext-token-url")
	require.NotContains(t, errOut.String(), "S3cretPw")
	require.Zero(t, dialled.Load(), "dialled despite a configuration error")
}

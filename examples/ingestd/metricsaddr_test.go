package main

import (
	"io"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// A -metrics-addr that is not host:port (an operator's "9464" for ":9464")
// is a configuration error (exit 2) naming the flag, found before the
// database is opened, as docs/OPERATIONS.md says of a malformed setting;
// not a fatal error (exit 1) with net.Listen's "missing port in address".
func TestMalformedMetricsAddrIsAConfigurationError(t *testing.T) {
	env := map[string]string{conn.EnvLedger: "validator:5001", conn.EnvParty: "treasury::1",
		conn.EnvDSN: "postgres://u:pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=1"}
	for _, c := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"-metrics-addr", "9464"}, env},
		{nil, map[string]string{conn.EnvLedger: env[conn.EnvLedger], conn.EnvParty: env[conn.EnvParty], conn.EnvDSN: env[conn.EnvDSN],
			"TXHISTORY_METRICS_ADDR": "localhost"}},
		{[]string{"-demo", "-metrics-addr", "127.0.0.1"}, nil},
	} {
		_, err := parseConfig(c.args, envOf(c.env), io.Discard)
		require.ErrorContains(t, err, "-metrics-addr", "%v %v", c.args, c.env)
		logs := &syncbuf.Buffer{}
		require.Equal(t, 2, run(c.args, envOf(c.env), logs, nil, nil), "%v %v:\n%s", c.args, c.env, logs.String())
		require.Contains(t, logs.String(), "-metrics-addr")
	}
	// Empty turns the endpoint off; a port alone, or host and port, are fine.
	for _, addr := range []string{"", ":9464", "127.0.0.1:0", "[::1]:9464"} {
		_, err := parseConfig([]string{"-metrics-addr", addr}, envOf(env), io.Discard)
		require.NoError(t, err, addr)
	}
}

// A -metrics-addr whose port is no port (out of range, a typo, missing)
// is a configuration error too: net.Listen refused it only at start (exit
// 1, "invalid port"), or, with no port after the colon, listened on a
// random one that no scraper knows.
func TestMetricsAddrWithoutAValidPortIsAConfigurationError(t *testing.T) {
	env := map[string]string{conn.EnvLedger: "validator:5001", conn.EnvParty: "treasury::1",
		conn.EnvDSN: "postgres://u:pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=1"}
	for _, addr := range []string{":94640", ":94b4", "localhost:", ":-1"} {
		_, err := parseConfig([]string{"-metrics-addr", addr}, envOf(env), io.Discard)
		require.ErrorContains(t, err, "-metrics-addr", addr)
		logs := &syncbuf.Buffer{}
		require.Equal(t, 2, run([]string{"-metrics-addr", addr}, envOf(env), logs, nil, nil), "%s:\n%s", addr, logs.String())
	}
}

package main

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// The demo daemon ingests, serves /metrics and /healthz, logs progress with
// offsets and update ids, and on SIGTERM commits and exits 0.
func TestDemoRunsAndStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	ready := make(chan string, 1)
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"-demo", "-metrics-addr", "127.0.0.1:0", "-progress", "100ms", "-demo-rate", "500", "-demo-backlog", "500", "-log-level", "debug"},
			envOf(nil), logs, sigs, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case c := <-code:
		t.Fatalf("exited with %d:\n%s", c, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("not ready:\n%s", logs.String())
	}
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var h struct{ Offset int64 }
		_ = json.NewDecoder(resp.Body).Decode(&h)
		return resp.StatusCode == http.StatusOK && h.Offset > 600
	}, 30*time.Second, 20*time.Millisecond)
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), "txhistory_checkpoint_offset ")
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `"msg":"ingestd: tailing"`) }, 10*time.Second, 20*time.Millisecond)

	sigs <- syscall.SIGTERM
	select {
	case c := <-code:
		require.Equal(t, 0, c, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("did not stop:\n%s", logs.String())
	}
	out := logs.String()
	require.Contains(t, out, `"msg":"ingestd: stopping: committing what was received"`)
	require.Contains(t, out, `"msg":"ingestd: stopped"`)
	require.Contains(t, out, `"msg":"ingestd: transaction","offset":`)
	require.Contains(t, out, `"update_id":"upd-`)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		require.True(t, json.Valid([]byte(line)), "not a JSON log line: %s", line)
	}
}

func TestCatchingUp(t *testing.T) {
	for _, c := range []struct {
		lag, advanced int64
		want          bool
	}{
		{0, 0, false},        // at the ledger end
		{3, 250, false},      // a live ledger: a few offsets between commits
		{250, 250, false},    // behind by one interval's worth
		{5000, 800, true},    // catching up
		{10, 0, true},        // behind, and nothing ingested (the first line, or stuck)
		{1_000_000, 0, true}, // the first line after a restart far behind
	} {
		require.Equal(t, c.want, catchingUp(c.lag, c.advanced), "lag %d, advanced %d", c.lag, c.advanced)
	}
}

func TestConfigFromFlagsAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secretFile, []byte("from-file\n"), 0o600))
	env := map[string]string{
		conn.EnvLedger: "validator:5001", conn.EnvParty: "treasury::1", conn.EnvDSN: "postgres://u:pw@db/x",
		conn.EnvSchema: "ex_history", "TXHISTORY_OAUTH_TOKEN_URL": "https://idp/token", "TXHISTORY_OAUTH_CLIENT_ID": "ingester",
		conn.EnvClientSecret: "from-env", "TXHISTORY_METRICS_ADDR": ":9999",
	}
	c, err := parseConfig(nil, envOf(env), io.Discard)
	require.NoError(t, err)
	require.Equal(t, "validator:5001", c.ledger)
	require.Equal(t, "ex_history", c.schema)
	require.Equal(t, "from-env", c.oauthClientSecret)
	require.Equal(t, ":9999", c.metricsAddr)
	require.False(t, c.demo)
	require.Equal(t, ingest.MaxBatchSizeDefault, c.maxBatch)
	require.Equal(t, ingest.StreamBufferDefault, c.streamBuffer)

	// The catch-up settings, from the environment and from flags.
	env["TXHISTORY_MAX_BATCH"], env["TXHISTORY_STREAM_BUFFER"] = "1000", "1024"
	c, err = parseConfig(nil, envOf(env), io.Discard)
	require.NoError(t, err)
	require.Equal(t, 1000, c.maxBatch)
	require.Equal(t, 1024, c.streamBuffer)
	c, err = parseConfig([]string{"-stream-buffer", "2048"}, envOf(env), io.Discard)
	require.NoError(t, err)
	require.Equal(t, 2048, c.streamBuffer)
	require.Equal(t, ledger.DefaultReceiveWindow, c.receiveWindow)
	env["TXHISTORY_RECEIVE_WINDOW"] = "8388608"
	c, err = parseConfig(nil, envOf(env), io.Discard)
	require.NoError(t, err)
	require.Equal(t, 8<<20, c.receiveWindow)
	delete(env, "TXHISTORY_RECEIVE_WINDOW")
	delete(env, "TXHISTORY_MAX_BATCH")
	delete(env, "TXHISTORY_STREAM_BUFFER")

	// Flags win over the environment; a secret file over its variable.
	c, err = parseConfig([]string{"-ledger", "other:5001", "-schema", "s2", "-oauth-client-secret-file", secretFile}, envOf(env), io.Discard)
	require.NoError(t, err)
	require.Equal(t, "other:5001", c.ledger)
	require.Equal(t, "s2", c.schema)
	require.Equal(t, "from-file", c.oauthClientSecret)

	// Secrets cannot be given as flags.
	_, err = parseConfig([]string{"-oauth-client-secret", "x"}, envOf(env), io.Discard)
	require.Error(t, err)
	_, err = parseConfig([]string{"-dsn", "postgres://u:pw@db/x"}, envOf(env), io.Discard)
	require.Error(t, err)

	// What is missing or wrong is said, all at once.
	_, err = parseConfig([]string{"-party", "p", "-schema", "bad;name", "-lock", "maybe", "-oauth-token-url", "https://idp"}, envOf(nil), io.Discard)
	require.Error(t, err)
	for _, want := range []string{"-ledger", "TXHISTORY_DSN", "bad;name", "-lock", "-oauth-client-id", "TXHISTORY_OAUTH_CLIENT_SECRET"} {
		require.ErrorContains(t, err, want)
	}

	// Nothing at all (a deployment whose environment did not arrive):
	// refused, pointing at -demo, not the demo.
	_, err = parseConfig(nil, envOf(nil), io.Discard)
	require.ErrorContains(t, err, "nothing is configured")
	require.ErrorContains(t, err, "-demo")
	logs0 := &syncbuf.Buffer{}
	require.Equal(t, 2, run(nil, envOf(nil), logs0, nil, nil), logs0.String())
	c, err = parseConfig([]string{"-demo"}, envOf(nil), io.Discard)
	require.NoError(t, err)
	require.True(t, c.demo)

	// A configuration error exits 2 without quoting the DSN's password.
	logs := &syncbuf.Buffer{}
	env[conn.EnvSchema] = "bad;name"
	require.Equal(t, 2, run(nil, envOf(env), logs, nil, nil))
	require.NotContains(t, logs.String(), "pw")
}

// A malformed value in a variable is an error naming the variable, not
// silently the default; a flag given on the command line makes the
// variable irrelevant.
func TestMalformedEnvironmentValueIsAnError(t *testing.T) {
	base := map[string]string{conn.EnvLedger: "validator:5001", conn.EnvParty: "treasury::1", conn.EnvDSN: "postgres://u:pw@db/x"}
	for name, value := range map[string]string{
		"TXHISTORY_PLAINTEXT":     "yes please",
		"TXHISTORY_STALL_TIMEOUT": "5 minutes",
		"TXHISTORY_START_OFFSET":  "12abc",
		"TXHISTORY_MAX_BATCH":     "lots",
		"TXHISTORY_MIGRATE":       "nope",
	} {
		env := maps.Clone(base)
		env[name] = value
		_, err := parseConfig(nil, envOf(env), io.Discard)
		require.ErrorContains(t, err, "$"+name, "%s=%q was taken for the default", name, value)
		require.ErrorContains(t, err, value)
	}
	env := maps.Clone(base)
	env["TXHISTORY_START_OFFSET"] = "12abc"
	c, err := parseConfig([]string{"-start-offset", "42"}, envOf(env), io.Discard)
	require.NoError(t, err, "the flag wins over the variable")
	require.Equal(t, int64(42), c.startOffset)
}

package main

import (
	"github.com/cantonx/txhistory/examples/internal/conn"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The migration job needs only the database; without one it is a
// configuration error, not the demo.
func TestMigrateOnlyNeedsOnlyTheDSN(t *testing.T) {
	c, err := parseConfig([]string{"-migrate-only"}, envOf(map[string]string{conn.EnvDSN: "postgres://owner:pw@db/integration"}), io.Discard)
	require.NoError(t, err)
	require.True(t, c.migrateOnly)
	require.False(t, c.demo)

	_, err = parseConfig([]string{"-migrate-only"}, envOf(nil), io.Discard)
	require.ErrorContains(t, err, "-migrate-only: $"+conn.EnvDSN)
	logs := &lockedBuffer{}
	require.Equal(t, 2, run([]string{"-migrate-only"}, envOf(nil), logs, nil, nil))
	require.NotContains(t, logs.String(), "demo")
}

// Values that cannot work are configuration errors (exit 2) found before
// anything is dialled; a DSN lib/pq cannot parse is refused without
// quoting lib/pq's message, which may hold a piece of the password.
func TestBadValuesAreConfigurationErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	base := map[string]string{conn.EnvLedger: "validator:5001", conn.EnvParty: "treasury::1", conn.EnvDSN: "postgres://u:pw@db/x"}
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-receive-window", "5"}, nil, "-receive-window 5"},
		{[]string{"-start-offset", "-3"}, nil, "-start-offset -3"},
		{[]string{"-tls-ca", filepath.Join(dir, "missing.pem")}, nil, "-tls-ca"},
		{[]string{"-tls-ca", notPEM}, nil, "holds no PEM certificate"},
		{[]string{"-tls-cert", filepath.Join(dir, "c.pem"), "-tls-key", filepath.Join(dir, "k.pem")}, nil, "load client certificate"},
		{nil, map[string]string{conn.EnvDSN: "host=db password=S3cret Pw dbname=x"}, "is not a PostgreSQL connection string"},
	} {
		env := maps.Clone(base)
		maps.Copy(env, c.env)
		logs := &lockedBuffer{}
		require.Equal(t, 2, run(c.args, envOf(env), logs, nil, nil), "%v %v:\n%s", c.args, c.env, logs.String())
		require.Contains(t, logs.String(), c.want)
		require.NotContains(t, logs.String(), "S3cret")
		require.NotContains(t, logs.String(), "Pw")
	}
}

// The demo runs on a fake participant and a local PostgreSQL of its own:
// a database and party configured in the environment (a production host's)
// are not written to.
func TestDemoIgnoresTheConfiguredDatabaseAndParty(t *testing.T) {
	c, err := parseConfig([]string{"-demo"}, envOf(map[string]string{conn.EnvDSN: "postgres://ingest:pw@prod-db/integration", conn.EnvParty: "treasury::1220real"}), io.Discard)
	require.NoError(t, err)
	require.True(t, c.demo)
	require.Empty(t, c.dsn)
	require.Empty(t, c.party)
}

// A signal while the daemon waits for its database stops it at once, as a
// stop (exit 0), not after the migration's retries as an error.
func TestSignalWhileWaitingForTheDatabase(t *testing.T) {
	env := map[string]string{conn.EnvLedger: "127.0.0.1:1", conn.EnvParty: "treasury::1", conn.EnvDSN: "postgres://u:pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=1",
		"TXHISTORY_PLAINTEXT": "true", "TXHISTORY_METRICS_ADDR": ""}
	logs := &lockedBuffer{}
	sigs := make(chan os.Signal, 1)
	code := make(chan int, 1)
	go func() { code <- run(nil, envOf(env), logs, sigs, nil) }()
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "retrying") }, 20*time.Second, 10*time.Millisecond)
	sigs <- syscall.SIGTERM
	select {
	case c := <-code:
		require.Equal(t, 0, c, logs.String())
		require.Contains(t, logs.String(), "stopped before ingestion started")
	case <-time.After(5 * time.Second):
		t.Fatalf("SIGTERM ignored for 5 s:\n%s", logs.String())
	}
}

package main

import (
	"context"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/tokenstd"
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
	logs := &syncbuf.Buffer{}
	require.Equal(t, 2, run([]string{"-migrate-only"}, envOf(nil), logs, nil, nil))
	require.NotContains(t, logs.String(), "demo")
}

// The migration job run with the daemon's environment (docs/OPERATIONS.md:
// "-migrate-only (needs nothing but the DSN)"), the owner's DSN in place of
// the ingestion role's, and without the ingestion's OAuth2 client secret
// mounted: it migrates, neither reading that secret nor asking for it.
func TestMigrateOnlyReadsNoParticipantSecret(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "oauth-client-secret")
	env := map[string]string{
		conn.EnvDSN:                          "postgres://owner:pw@db/integration",
		conn.EnvLedger:                       "validator:5001",
		conn.EnvParty:                        "treasury::1220",
		"TXHISTORY_OAUTH_TOKEN_URL":          "https://idp.example.com/oauth/token",
		"TXHISTORY_OAUTH_CLIENT_ID":          "txhistory-ingest",
		"TXHISTORY_OAUTH_CLIENT_SECRET_FILE": missing,
	}
	c, err := parseConfig([]string{"-migrate-only"}, envOf(env), io.Discard)
	require.NoError(t, err, "the migration job needs nothing but the DSN")
	require.True(t, c.migrateOnly)
	require.Empty(t, c.oauthClientSecret)

	// The secret readable but not this job's to read: still not read.
	require.NoError(t, os.WriteFile(missing, []byte("S3cret-client"), 0o600))
	c, err = parseConfig([]string{"-migrate-only"}, envOf(env), io.Discard)
	require.NoError(t, err)
	require.Empty(t, c.oauthClientSecret)

	// The daemon itself still needs it.
	require.NoError(t, os.Remove(missing))
	_, err = parseConfig(nil, envOf(env), io.Discard)
	require.ErrorContains(t, err, "read the OAuth2 client secret")
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
		{[]string{"-max-silence", "0s"}, nil, "-max-silence must be positive"},
		{[]string{"-tls-ca", filepath.Join(dir, "missing.pem")}, nil, "-tls-ca"},
		{[]string{"-tls-ca", notPEM}, nil, "holds no PEM certificate"},
		{[]string{"-tls-cert", filepath.Join(dir, "c.pem"), "-tls-key", filepath.Join(dir, "k.pem")}, nil, "load client certificate"},
		{nil, map[string]string{conn.EnvDSN: "host=db password=S3cret Pw dbname=x"}, "is not a PostgreSQL connection string"},
	} {
		env := maps.Clone(base)
		maps.Copy(env, c.env)
		logs := &syncbuf.Buffer{}
		require.Equal(t, 2, run(c.args, envOf(env), logs, nil, nil), "%v %v:\n%s", c.args, c.env, logs.String())
		require.Contains(t, logs.String(), c.want)
		require.NotContains(t, logs.String(), "S3cret")
		require.NotContains(t, logs.String(), "Pw")
	}
}

// A batch size or stream buffer of zero or less is a configuration error
// (exit 2), as docs/OPERATIONS.md says of a malformed setting, not the
// default put silently in its place: an operator who set
// TXHISTORY_MAX_BATCH=0 or -stream-buffer -1 learns that it was not taken.
func TestNonPositiveBatchAndBufferAreConfigurationErrors(t *testing.T) {
	base := map[string]string{conn.EnvLedger: "validator:5001", conn.EnvParty: "treasury::1", conn.EnvDSN: "postgres://u:pw@db/x"}
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-max-batch", "0"}, nil, "-max-batch"},
		{[]string{"-max-batch", "-5"}, nil, "-max-batch"},
		{nil, map[string]string{"TXHISTORY_MAX_BATCH": "0"}, "-max-batch"},
		{[]string{"-stream-buffer", "0"}, nil, "-stream-buffer"},
		{nil, map[string]string{"TXHISTORY_STREAM_BUFFER": "-1"}, "-stream-buffer"},
	} {
		env := maps.Clone(base)
		maps.Copy(env, c.env)
		_, err := parseConfig(c.args, envOf(env), io.Discard)
		require.ErrorContains(t, err, c.want, "%v %v", c.args, c.env)
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
	require.Equal(t, []string{"database", "party"}, c.demoIgnored)
}

// Nor does it use the host's other settings: its participant, its
// credentials (no production token fetched for a fake), where to start,
// or a -migrate=false meant for a database migrated by a separate job
// (the demo's own database starts empty).
func TestDemoIgnoresTheHostsOtherSettings(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secret, []byte("s3cret"), 0o600))
	env := map[string]string{
		conn.EnvLedger: "validator:5001", "TXHISTORY_TLS_SERVER_NAME": "validator.internal",
		"TXHISTORY_OAUTH_TOKEN_URL": "https://idp/token", "TXHISTORY_OAUTH_CLIENT_ID": "ingester",
		"TXHISTORY_OAUTH_CLIENT_SECRET_FILE": secret, "TXHISTORY_START_OFFSET": "42", "TXHISTORY_MIGRATE": "false",
	}
	c, err := parseConfig([]string{"-demo"}, envOf(env), io.Discard)
	require.NoError(t, err)
	require.Empty(t, c.ledger)
	require.Empty(t, c.tlsServerName)
	require.Empty(t, c.oauthTokenURL)
	require.Empty(t, c.oauthClientSecret)
	require.Zero(t, c.startOffset)
	require.True(t, c.migrate)
	require.Equal(t, []string{"OAuth2 client secret", "-ledger", "-tls-server-name", "-oauth-token-url", "-oauth-client-id", "-start-offset", "-migrate=false"}, c.demoIgnored)
	tokens, err := (&daemon{cfg: c}).tokens(context.Background())
	require.NoError(t, err)
	require.Nil(t, tokens, "the demo's fake participant needs no token")
}

// A signal while the daemon waits for its database stops it at once, as a
// stop (exit 0), not after the migration's retries as an error.
func TestSignalWhileWaitingForTheDatabase(t *testing.T) {
	env := map[string]string{conn.EnvLedger: "127.0.0.1:1", conn.EnvParty: "treasury::1", conn.EnvDSN: "postgres://u:pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=1",
		"TXHISTORY_PLAINTEXT": "true", "TXHISTORY_METRICS_ADDR": ""}
	logs := &syncbuf.Buffer{}
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

// TestMetricsAddrEmptyVariable: TXHISTORY_METRICS_ADDR set to the empty
// string turns the endpoint off, as -metrics-addr's help says; unset, it is
// the default.
func TestMetricsAddrEmptyVariable(t *testing.T) {
	env := map[string]string{conn.EnvLedger: "v:1", conn.EnvParty: "p", conn.EnvDSN: "postgres://u:pw@db/x",
		"TXHISTORY_METRICS_ADDR": ""}
	c, err := parseConfig(nil, envOf(env), os.Stderr)
	require.NoError(t, err)
	require.Empty(t, c.metricsAddr, "TXHISTORY_METRICS_ADDR= (empty) should mean no metrics endpoint")
	delete(env, "TXHISTORY_METRICS_ADDR")
	c, err = parseConfig(nil, envOf(env), os.Stderr)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9464", c.metricsAddr)
}

// TestPlaintextExcludesEveryTLSSetting: TXHISTORY_PLAINTEXT=true with any
// TLS setting is refused, as the runbook refuses it (it runs with the
// daemon's environment: what one accepts the other must too).
func TestPlaintextExcludesEveryTLSSetting(t *testing.T) {
	for _, name := range []string{"TXHISTORY_TLS_CA", "TXHISTORY_TLS_SERVER_NAME", "TXHISTORY_ADMIN_TLS_CERT"} {
		env := map[string]string{conn.EnvLedger: "v:1", conn.EnvParty: "p", conn.EnvDSN: "postgres://u:pw@db/x",
			"TXHISTORY_PLAINTEXT": "true", name: "x"}
		if name == "TXHISTORY_ADMIN_TLS_CERT" {
			env["TXHISTORY_ADMIN_TLS_KEY"] = "y"
		}
		_, err := parseConfig(nil, envOf(env), io.Discard)
		require.ErrorIs(t, err, conn.ErrPlaintextWithTLS, name)
	}
}

// TestDemoReadsNoHostSecretAndIgnoresItsMalformedSettings: the demo does
// not read the host's secret files (its user may not be allowed to, or
// they may be gone), and a malformed value of a setting it drops does not
// stop it.
func TestDemoReadsNoHostSecretAndIgnoresItsMalformedSettings(t *testing.T) {
	env := map[string]string{conn.EnvDSNFile: filepath.Join(t.TempDir(), "missing-dsn"),
		"TXHISTORY_OAUTH_CLIENT_SECRET_FILE": filepath.Join(t.TempDir(), "missing-secret"),
		"TXHISTORY_START_OFFSET":             "ten", "TXHISTORY_MIGRATE": "perhaps"}
	c, err := parseConfig([]string{"-demo"}, envOf(env), io.Discard)
	require.NoError(t, err)
	require.True(t, c.demo)
	require.Equal(t, []string{"database", "OAuth2 client secret"}, c.demoIgnored)
	_, err = parseConfig(nil, envOf(env), io.Discard)
	require.ErrorContains(t, err, "TXHISTORY_START_OFFSET", "without -demo the malformed value is an error")
}

// TestDemoServesMetricsOnAPortOfItsOwn: the demo does not serve /healthz on
// the address the host's monitoring watches (TXHISTORY_METRICS_ADDR, or the
// default), but on a free loopback port, unless -metrics-addr is given on
// the command line.
func TestDemoServesMetricsOnAPortOfItsOwn(t *testing.T) {
	env := map[string]string{"TXHISTORY_METRICS_ADDR": "0.0.0.0:9464"}
	c, err := parseConfig([]string{"-demo"}, envOf(env), io.Discard)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:0", c.metricsAddr)
	require.Equal(t, []string{"-metrics-addr"}, c.demoIgnored)
	c, err = parseConfig([]string{"-demo"}, envOf(nil), io.Discard)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:0", c.metricsAddr)
	require.Empty(t, c.demoIgnored)
	c, err = parseConfig([]string{"-demo", "-metrics-addr", "127.0.0.1:9999"}, envOf(env), io.Discard)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9999", c.metricsAddr)
}

// TestSynchronizersSetting: TXHISTORY_SYNCHRONIZERS (or -synchronizers)
// lists the treasury's synchronizers for the withdrawal clock; the demo
// drops the host's.
func TestSynchronizersSetting(t *testing.T) {
	env := map[string]string{conn.EnvLedger: "v:1", conn.EnvParty: "p", conn.EnvDSN: "postgres://u:pw@db/x",
		"TXHISTORY_SYNCHRONIZERS": "global-domain::1220aa, second::1220bb,"}
	c, err := parseConfig(nil, envOf(env), io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"global-domain::1220aa", "second::1220bb"}, c.synchronizers)
	c, err = parseConfig([]string{"-synchronizers", "x::1"}, envOf(env), io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"x::1"}, c.synchronizers)
	c, err = parseConfig([]string{"-demo"}, envOf(env), io.Discard)
	require.NoError(t, err)
	require.Empty(t, c.synchronizers)
	require.Contains(t, c.demoIgnored, "-synchronizers")
}

// TestInstrumentsSetting: TXHISTORY_INSTRUMENTS (or -instruments) lists the
// instruments booked, each id@admin; an entry without an admin or an id, or
// whose admin is not a party id (name::namespace, as a stray @ in the id
// would leave it), is a configuration error naming it; the demo drops the
// host's.
func TestInstrumentsSetting(t *testing.T) {
	env := map[string]string{conn.EnvLedger: "v:1", conn.EnvParty: "p", conn.EnvDSN: "postgres://u:pw@db/x",
		"TXHISTORY_INSTRUMENTS": "Amulet@DSO::1220aa, USDx@issuer::1220bb,"}
	c, err := parseConfig(nil, envOf(env), io.Discard)
	require.NoError(t, err)
	require.Equal(t, []tokenstd.Instrument{{Admin: "DSO::1220aa", ID: "Amulet"}, {Admin: "issuer::1220bb", ID: "USDx"}}, c.instruments)
	c, err = parseConfig([]string{"-instruments", "a@b@DSO::1"}, envOf(env), io.Discard)
	require.NoError(t, err)
	require.Equal(t, []tokenstd.Instrument{{Admin: "DSO::1", ID: "a@b"}}, c.instruments, "the admin is after the last @")
	for _, bad := range []string{"Amulet", "Amulet@", "@DSO::1220aa", "Amulet@DSO::1, @x",
		"Amulet@DSO::1@x", "Amulet@DSO", "Amulet@::1220aa", "Amulet@DSO::", "Amulet@DSO::1220 aa"} {
		_, err = parseConfig([]string{"-instruments", bad}, envOf(env), io.Discard)
		require.ErrorContains(t, err, "-instruments", "%q", bad)
		require.ErrorContains(t, err, "want id@admin", "%q", bad)
	}
	c, err = parseConfig(nil, envOf(map[string]string{conn.EnvLedger: "v:1", conn.EnvParty: "p", conn.EnvDSN: "postgres://u:pw@db/x"}), io.Discard)
	require.NoError(t, err)
	require.Empty(t, c.instruments, "by default every instrument counts")
	c, err = parseConfig([]string{"-demo"}, envOf(env), io.Discard)
	require.NoError(t, err)
	require.Empty(t, c.instruments)
	require.Contains(t, c.demoIgnored, "-instruments")
}

// An http:// token URL to a host that is not loopback is refused by the
// library (ledger.ErrTokenURL) unless -oauth-plaintext-token-url says the
// link is trusted: a configuration error naming the flag; the flag needs a
// token URL.
func TestOAuthPlaintextTokenURL(t *testing.T) {
	env := map[string]string{conn.EnvLedger: "v:1", conn.EnvParty: "p", conn.EnvDSN: "postgres://u:pw@db/x",
		"TXHISTORY_OAUTH_PLAINTEXT_TOKEN_URL": "true"}
	_, err := parseConfig(nil, envOf(env), io.Discard)
	require.ErrorContains(t, err, "-oauth-plaintext-token-url needs -oauth-token-url")

	// No endpoint listens at idp.invalid: what matters is whether the
	// source refuses the URL before trying it.
	env["TXHISTORY_OAUTH_TOKEN_URL"] = "http://idp.invalid/token"
	env["TXHISTORY_OAUTH_CLIENT_ID"] = "ingester"
	env[conn.EnvClientSecret] = "s3cr3t"
	for _, plain := range []string{"false", "true"} {
		env["TXHISTORY_OAUTH_PLAINTEXT_TOKEN_URL"] = plain
		c, err := parseConfig(nil, envOf(env), io.Discard)
		if plain == "false" {
			require.ErrorIs(t, err, ledger.ErrTokenURL)
			require.ErrorContains(t, err, "-oauth-plaintext-token-url")
			continue
		}
		require.NoError(t, err)
		src, err := (&daemon{cfg: c}).tokens(context.Background())
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = src.Token(ctx)
		cancel()
		require.NotErrorIs(t, err, ledger.ErrTokenURL, "the URL is tried")
		require.Error(t, err, "nothing listens at idp.invalid")
	}
}

// A negative duration or count where only zero means "off" (or the
// default) is a configuration error naming its flag, not taken as that:
// -stall-timeout -1s read as "never reconnect", -receive-window -5 as
// the default window, -demo-rate -1 as no transactions at all. A malformed
// -schema names the flag, as every other setting's error does.
func TestNegativeSettingsAndSchemaNameTheFlag(t *testing.T) {
	base := map[string]string{conn.EnvLedger: "validator:5001", conn.EnvParty: "treasury::1", conn.EnvDSN: "postgres://u:pw@db/x"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-stall-timeout", "-1s"}, "-stall-timeout"},
		{[]string{"-receive-window", "-5"}, "-receive-window -5"},
		{[]string{"-demo", "-demo-rate", "-1"}, "-demo-rate"},
		{[]string{"-schema", "Bad-Name"}, "-schema"},
	} {
		_, err := parseConfig(c.args, envOf(base), io.Discard)
		require.ErrorContains(t, err, c.want, "%v", c.args)
	}
	for _, ok := range [][]string{{"-receive-window", "-1"}, {"-receive-window", "0"}, {"-stall-timeout", "0s"}} {
		_, err := parseConfig(ok, envOf(base), io.Discard)
		require.NoError(t, err, "%v", ok)
	}
}

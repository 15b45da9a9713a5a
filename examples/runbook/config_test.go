package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"github.com/cantonx/txhistory/examples/internal/conn"
	"maps"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// The runbook reaches a participant set up as docs/OPERATIONS.md
// recommends: a private CA and mutual TLS on both APIs, the admin API with
// a client certificate of its own (-admin-tls-cert). The settings work as
// flags and as TXHISTORY_* variables, the flag winning; without the CA, or
// verifying another server name, or without the admin certificate, the
// handshake is refused. Without the Ledger API's certificate (TLS 1.3) the
// refusal is the participant's alert or, when the client wrote first, a
// closed connection that ledger notes was asked for a certificate.
func TestRunbookMutualTLS(t *testing.T) {
	certs, err := ledgertest.NewCerts("runbook")
	require.NoError(t, err)
	dir := t.TempDir()
	files, err := certs.WriteFiles(dir)
	require.NoError(t, err)
	_, adminCertPEM, adminKeyPEM, err := certs.Issue("runbook-admin", x509.ExtKeyUsageClientAuth, nil, nil)
	require.NoError(t, err)
	adminCert, adminKey := filepath.Join(dir, "admin.pem"), filepath.Join(dir, "admin-key.pem")
	require.NoError(t, os.WriteFile(adminCert, adminCertPEM, 0o644))
	require.NoError(t, os.WriteFile(adminKey, adminKeyPEM, 0o600))

	// The admin API accepts only the admin certificate; TLS 1.2, so that a
	// refused client certificate fails the handshake itself.
	adminTLS := certs.ServerConfig(true)
	adminTLS.MaxVersion = tls.VersionTLS12
	adminTLS.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 || cs.PeerCertificates[0].Subject.CommonName != "runbook-admin" {
			return errors.New("not the admin certificate")
		}
		return nil
	}
	r := newRestored(t, certs.ClientConfig(true),
		ledgertest.WithTLS(certs.ServerConfig(true)), ledgertest.WithAdminTLS(adminTLS))

	base := []string{"-ledger", r.p.Addr(), "-admin", r.p.AdminAddr(), "-party", treasury, "-poll", "10ms", "-timeout", "5s"}
	tlsFlags := []string{"-tls-ca", files.CA, "-tls-cert", files.ClientCert, "-tls-key", files.ClientKey, "-tls-server-name", "localhost"}
	adminFlags := []string{"-admin-tls-cert", adminCert, "-admin-tls-key", adminKey}
	tlsEnv := map[string]string{
		"TXHISTORY_TLS_CA": files.CA, "TXHISTORY_TLS_CERT": files.ClientCert, "TXHISTORY_TLS_KEY": files.ClientKey,
		"TXHISTORY_TLS_SERVER_NAME": "localhost", "TXHISTORY_ADMIN_TLS_CERT": adminCert, "TXHISTORY_ADMIN_TLS_KEY": adminKey,
	}
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string // in stdout with 0, else matched in stderr (a regexp)
	}{
		{"flags", cat(base, tlsFlags, adminFlags), nil, 0, dryRun},
		{"environment", base, tlsEnv, 0, dryRun},
		{"flag wins", cat(base, []string{"-tls-server-name", "localhost"}), with(tlsEnv, "TXHISTORY_TLS_SERVER_NAME", "elsewhere.example"), 0, dryRun},
		{"no CA", cat(base, tlsFlags[2:], adminFlags), nil, 1, "certificate signed by unknown authority"},
		{"other server name", cat(base, tlsFlags[:6], []string{"-tls-server-name", "elsewhere.example"}, adminFlags), nil, 1, "elsewhere.example"},
		{"no admin certificate", cat(base, tlsFlags), nil, 1, "TLS handshake refused"},
		{"no Ledger API certificate", cat(base, []string{"-tls-ca", files.CA, "-tls-server-name", "localhost"}, adminFlags), nil, 1, "certificate required|asked for a client certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := maps.Clone(c.env)
			if env == nil {
				env = map[string]string{}
			}
			env[conn.EnvDSN] = r.dsn
			var out, errOut bytes.Buffer
			require.Equal(t, c.code, run(c.args, envOf(env), &out, &errOut), "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
			if c.code == 0 {
				require.Contains(t, out.String(), c.want)
			} else {
				t.Log(errOut.String())
				require.Regexp(t, c.want, errOut.String())
			}
		})
	}
}

// The Integration DB's connection string comes from $TXHISTORY_DSN (or
// -dsn-file) when -dsn is absent; -dsn, still accepted, wins.
func TestDSNFromEnvironment(t *testing.T) {
	r := newRestored(t, nil)
	base := []string{"-ledger", r.p.Addr(), "-admin", r.p.AdminAddr(), "-plaintext", "-party", treasury, "-poll", "10ms"}
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	require.NoError(t, os.WriteFile(dsnFile, []byte(r.dsn+"\n"), 0o600))
	unreachable := "postgres://nobody:S3cretPw@127.0.0.1:1/none?sslmode=disable"
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"TXHISTORY_DSN", base, map[string]string{conn.EnvDSN: r.dsn}},
		{"TXHISTORY_DSN_FILE", base, map[string]string{conn.EnvDSNFile: dsnFile, conn.EnvDSN: unreachable}},
		{"-dsn wins", cat(base, []string{"-dsn", r.dsn}), map[string]string{conn.EnvDSN: unreachable}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			require.Equal(t, 0, run(c.args, envOf(c.env), &out, &errOut), errOut.String())
			require.Contains(t, out.String(), dryRun)
		})
	}

	var out, errOut bytes.Buffer
	require.Equal(t, 2, run(base, envOf(nil), &out, &errOut))
	require.Contains(t, errOut.String(), "$TXHISTORY_DSN or -dsn-file")
	errOut.Reset()
	require.Equal(t, 1, run(base, envOf(map[string]string{conn.EnvDSN: unreachable}), &out, &errOut), "the variable is used")
	require.Contains(t, errOut.String(), "connect to the Integration DB")
	require.NotContains(t, errOut.String(), "S3cretPw")
}

// Bad connection settings are configuration errors (exit 2) naming the
// setting, found before anything is dialled.
func TestBadConnectionSettingsExit2(t *testing.T) {
	// The participant and the database: a listener that counts connections.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { lis.Close() })
	var dialled atomic.Int32
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			dialled.Add(1)
			conn.Close()
		}
	}()
	host, port, err := net.SplitHostPort(lis.Addr().String())
	require.NoError(t, err)

	dir := t.TempDir()
	missing := filepath.Join(dir, "missing-ca.pem")
	notPEM := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	base := []string{"-ledger", lis.Addr().String(), "-admin", lis.Addr().String(), "-party", treasury}
	env := map[string]string{conn.EnvDSN: "postgres://u:pw@" + host + ":" + port + "/x?sslmode=disable"}
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"missing CA", cat(base, []string{"-tls-ca", missing}), env, "read -tls-ca: open " + missing},
		{"missing CA from the environment", base, with(env, "TXHISTORY_TLS_CA", missing), "read -tls-ca: open " + missing},
		{"CA not PEM", cat(base, []string{"-tls-ca", notPEM}), env, "-tls-ca " + notPEM + " holds no PEM certificate"},
		{"missing client certificate", cat(base, []string{"-tls-cert", filepath.Join(dir, "c.pem"), "-tls-key", filepath.Join(dir, "k.pem")}), env, "load client certificate"},
		{"missing admin certificate", cat(base, []string{"-admin-tls-cert", filepath.Join(dir, "a.pem"), "-admin-tls-key", filepath.Join(dir, "k.pem")}), env, "load client certificate " + filepath.Join(dir, "a.pem")},
		{"certificate without key", cat(base, []string{"-tls-cert", notPEM}), env, "-tls-cert and -tls-key go together"},
		{"plaintext and TLS", cat(base, []string{"-plaintext", "-tls-ca", notPEM}), env, "-plaintext excludes the -tls-* settings"},
		{"malformed variable", base, with(env, "TXHISTORY_PLAINTEXT", "maybe"), `$TXHISTORY_PLAINTEXT="maybe"`},
		{"missing token file", cat(base, []string{"-token-file", filepath.Join(dir, "token")}), env, "-token-file"},
		{"DSN lib/pq refuses", base, map[string]string{conn.EnvDSN: "host=db password=S3cret Pw dbname=x"}, "not a PostgreSQL connection string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			require.Equal(t, 2, run(c.args, envOf(c.env), &out, &errOut), errOut.String())
			require.Contains(t, errOut.String(), c.want)
			require.NotContains(t, errOut.String(), "S3cret")
		})
	}
	require.Zero(t, dialled.Load(), "dialled despite a configuration error")
}

func cat(parts ...[]string) []string {
	var all []string
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// with returns a copy of env with name set to value.
func with(env map[string]string, name, value string) map[string]string {
	out := map[string]string{name: value}
	for k, v := range env {
		if k != name {
			out[k] = v
		}
	}
	return out
}

// TestPlaintextExcludesEveryTLSSettingAsIngestdDoes: the runbook refuses
// TXHISTORY_PLAINTEXT=true with a TLS setting in the environment, with the
// error ingestd gives for the same environment.
func TestPlaintextExcludesEveryTLSSettingAsIngestdDoes(t *testing.T) {
	r := newRestored(t, nil)
	env := map[string]string{conn.EnvDSN: r.dsn, "TXHISTORY_PLAINTEXT": "true", "TXHISTORY_TLS_SERVER_NAME": "validator.internal"}
	args := []string{"-ledger", r.p.Addr(), "-admin", r.p.AdminAddr(), "-party", treasury, "-poll", "10ms"}
	var out, errOut bytes.Buffer
	require.Equal(t, 2, run(args, envOf(env), &out, &errOut), errOut.String())
	require.Contains(t, errOut.String(), conn.ErrPlaintextWithTLS.Error())
}

// TestTokenEnvFlagWinsOverTheDaemonsTokenFile: the runbook runs with the
// daemon's environment, whose token (TXHISTORY_TOKEN_FILE) is the
// ingestion user's, without admin rights (OPERATIONS.md); the operator's
// -token-env, given on the command line, is the one used.
func TestTokenEnvFlagWinsOverTheDaemonsTokenFile(t *testing.T) {
	r := newRestored(t, nil)
	r.p.SetToken("operator-token")
	daemonToken := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(daemonToken, []byte("ingest-token\n"), 0o600))
	env := map[string]string{conn.EnvDSN: r.dsn, "TXHISTORY_TOKEN_FILE": daemonToken, "OPERATOR_TOKEN": "operator-token"}
	args := []string{"-ledger", r.p.Addr(), "-admin", r.p.AdminAddr(), "-plaintext", "-party", treasury, "-poll", "10ms",
		"-token-env", "OPERATOR_TOKEN"}
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(args, envOf(env), &out, &errOut), "-token-env OPERATOR_TOKEN on the command line was not used:\n%s", errOut.String())
	require.Contains(t, out.String(), dryRun)
}

// TestTokenEnvFlagWinsOverTheDaemonsOAuth2: the same with the daemon's
// OAuth2 client in the environment: -token-env is used, not refused as
// "OAuth2 and a static token".
func TestTokenEnvFlagWinsOverTheDaemonsOAuth2(t *testing.T) {
	r := newRestored(t, nil)
	r.p.SetToken("operator-token")
	env := map[string]string{conn.EnvDSN: r.dsn, "TXHISTORY_OAUTH_TOKEN_URL": "http://127.0.0.1:1/token", "TXHISTORY_OAUTH_CLIENT_ID": "ingester",
		conn.EnvClientSecret: "s", "OPERATOR_TOKEN": "operator-token"}
	args := []string{"-ledger", r.p.Addr(), "-admin", r.p.AdminAddr(), "-plaintext", "-party", treasury, "-poll", "10ms",
		"-token-env", "OPERATOR_TOKEN"}
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(args, envOf(env), &out, &errOut), errOut.String())
	require.Contains(t, out.String(), dryRun)
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/require"
)

// A setting that names a file of a secret is given the secret itself (the
// OAuth2 client secret in TXHISTORY_OAUTH_CLIENT_SECRET_FILE, the token in
// TXHISTORY_TOKEN_FILE, the client key's PEM in TXHISTORY_TLS_KEY, as other
// programs take inline PEM): the daemon's output, shipped with its other
// logs, must not quote it as the name of a file that cannot be opened.
func TestSecretGivenForItsFileIsNotQuoted(t *testing.T) {
	const marker = "S3CRETxq7"
	base := func(t *testing.T) map[string]string {
		return map[string]string{conn.EnvLedger: "127.0.0.1:1", conn.EnvParty: demoParty, conn.EnvDSN: "postgres://u@127.0.0.1:1/db"}
	}
	t.Run("client secret file", func(t *testing.T) {
		env := base(t)
		env["TXHISTORY_PLAINTEXT"] = "true"
		env["TXHISTORY_OAUTH_TOKEN_URL"], env["TXHISTORY_OAUTH_CLIENT_ID"] = "https://idp.example/token", "ingester"
		env["TXHISTORY_OAUTH_CLIENT_SECRET_FILE"] = "client-" + marker
		var logs syncbuf.Buffer
		require.Equal(t, 2, run(nil, envOf(env), &logs, make(chan os.Signal, 1), nil))
		require.Contains(t, logs.String(), "OAuth2 client secret")
		require.NotContains(t, logs.String(), marker)
	})
	t.Run("TLS key", func(t *testing.T) {
		env := base(t)
		cert := filepath.Join(t.TempDir(), "client.pem")
		require.NoError(t, os.WriteFile(cert, []byte("not read"), 0o600))
		env["TXHISTORY_TLS_CERT"] = cert
		env["TXHISTORY_TLS_KEY"] = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI" + marker + "\n-----END PRIVATE KEY-----\n"
		var logs syncbuf.Buffer
		require.Equal(t, 2, run(nil, envOf(env), &logs, make(chan os.Signal, 1), nil))
		require.Contains(t, logs.String(), "client certificate")
		require.NotContains(t, logs.String(), marker)
	})
	t.Run("token file", func(t *testing.T) {
		token := "token-" + marker
		p, err := ledgertest.New(ledgertest.WithToken(token))
		require.NoError(t, err)
		t.Cleanup(p.Close)
		env := base(t)
		env[conn.EnvLedger], env[conn.EnvDSN], env["TXHISTORY_PLAINTEXT"] = p.Addr(), pgtest.NewDSN(t), "true"
		env["TXHISTORY_TOKEN_FILE"] = token
		logs := &syncbuf.Buffer{}
		sigs := make(chan os.Signal, 1)
		code, ready := runDaemon([]string{"-metrics-addr", "127.0.0.1:0", "-progress", "100ms"}, env, logs, sigs)
		waitReady(t, code, ready, logs)
		deadline := time.Now().Add(20 * time.Second)
		for strings.Count(logs.String(), "token file") < 3 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		sigs <- os.Interrupt
		<-code
		require.Contains(t, logs.String(), "token file", "the retries name the token file")
		require.NotContains(t, logs.String(), marker)
	})
}

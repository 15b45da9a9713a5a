package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/require"
)

// stoppedBy waits for the daemon to exit and returns its exit code and the
// error of its "stopped by an error" line.
func stoppedBy(t *testing.T, code <-chan int, logs *syncbuf.Buffer) (int, string) {
	t.Helper()
	var c int
	select {
	case c = <-code:
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30 s after its credential was refused:\n%s", logs.String())
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		var l struct{ Msg, Err string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "ingestd: stopped by an error" {
			return c, l.Err
		}
	}
	t.Fatalf("exited %d without a \"stopped by an error\" line:\n%s", c, logs.String())
	return c, ""
}

// TestRefusedCredentialSaysWhatToRenew: a credential refused while the
// daemon runs (a static token that expired, a token file nobody renews, an
// OAuth2 client secret rotated at the identity provider) stops it with exit
// 1; the error names the setting to renew and says that a restart is
// needed, for the participant's own message says nothing (Canton's: "An
// error occurred. Please contact the operator …") and a supervisor would
// restart it into the same failure. No secret is logged.
func TestRefusedCredentialSaysWhatToRenew(t *testing.T) {
	start := func(t *testing.T, p *ledgertest.Participant, env map[string]string, args ...string) (<-chan int, *syncbuf.Buffer) {
		t.Helper()
		_, err := p.Append(demoTxs(demoParty, 0, 20)...)
		require.NoError(t, err)
		env[conn.EnvLedger], env[conn.EnvParty], env[conn.EnvDSN], env["TXHISTORY_PLAINTEXT"] = p.Addr(), demoParty, pgtest.NewDSN(t), "true"
		logs := &syncbuf.Buffer{}
		code, ready := runDaemon(append([]string{"-metrics-addr", "127.0.0.1:0", "-progress", "100ms", "-log-level", "debug"}, args...), env, logs, make(chan os.Signal, 1))
		waitReady(t, code, ready, logs)
		return code, logs
	}

	t.Run("static token", func(t *testing.T) {
		p, err := ledgertest.New(ledgertest.WithToken("static-token-S3CRET"))
		require.NoError(t, err)
		t.Cleanup(p.Close)
		code, logs := start(t, p, map[string]string{conn.EnvToken: "static-token-S3CRET"})
		p.SetToken("renewed-token") // the static one expired
		p.ExpireTokenOnStreams()
		c, msg := stoppedBy(t, code, logs)
		require.Equal(t, 1, c, logs.String())
		require.Contains(t, msg, "$TXHISTORY_TOKEN", "the error does not name the refused token's setting")
		require.Contains(t, msg, "restart", "the error does not say that a new token needs a restart")
		require.NotContains(t, logs.String(), "S3CRET")
	})

	t.Run("token file", func(t *testing.T) {
		p, err := ledgertest.New(ledgertest.WithToken("file-token-S3CRET"))
		require.NoError(t, err)
		t.Cleanup(p.Close)
		tokenFile := filepath.Join(t.TempDir(), "token")
		require.NoError(t, os.WriteFile(tokenFile, []byte("file-token-S3CRET\n"), 0o600))
		code, logs := start(t, p, map[string]string{"TXHISTORY_TOKEN_FILE": tokenFile})
		p.SetToken("renewed-token") // the file's expired; nobody renewed it
		p.ExpireTokenOnStreams()
		c, msg := stoppedBy(t, code, logs)
		require.Equal(t, 1, c, logs.String())
		require.Contains(t, msg, tokenFile, "the error does not name the token file")
		require.Contains(t, msg, "restart", "the error does not say that a restart is needed")
		require.NotContains(t, logs.String(), "S3CRET")
	})

	t.Run("OAuth2 client secret", func(t *testing.T) {
		p, err := ledgertest.New(ledgertest.WithToken("none-yet"))
		require.NoError(t, err)
		t.Cleanup(p.Close)
		var mu sync.Mutex
		accepted, issued := "old-client-S3CRET", 0
		idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			if id, secret, _ := r.BasicAuth(); id != "ingester" || secret != accepted {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
				return
			}
			issued++
			tok := fmt.Sprintf("oauth-token-S3CRET-%d", issued)
			p.SetToken(tok)
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 2})
		}))
		t.Cleanup(idp.Close)
		secretFile := filepath.Join(t.TempDir(), "secret")
		require.NoError(t, os.WriteFile(secretFile, []byte("old-client-S3CRET\n"), 0o600))
		code, logs := start(t, p, map[string]string{"TXHISTORY_OAUTH_CLIENT_SECRET_FILE": secretFile},
			"-oauth-token-url", idp.URL, "-oauth-client-id", "ingester")
		// The rotation: the provider takes only the new secret, which is
		// in the file; the token held expires.
		mu.Lock()
		accepted = "new-client-S3CRET"
		mu.Unlock()
		require.NoError(t, os.WriteFile(secretFile, []byte("new-client-S3CRET\n"), 0o600))
		time.Sleep(2500 * time.Millisecond)
		p.ExpireTokenOnStreams()
		c, msg := stoppedBy(t, code, logs)
		require.Equal(t, 1, c, logs.String())
		require.Contains(t, msg, "invalid_client")
		require.Contains(t, msg, "-oauth-client-secret-file", "the error does not name the client secret's setting")
		require.Contains(t, msg, "restart", "the error does not say that the rotated secret is read only by a restart")
		require.NotContains(t, logs.String(), "S3CRET")
	})
}

package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/require"
)

// TestTokenURLWrongPathSaysWhatToFix: a -oauth-token-url whose path the
// identity provider does not serve (HTTP 404; 405 and 410 alike) stops the
// daemon as a refused credential does, but the setting to fix is the token
// URL: the error must name -oauth-token-url, not send the operator to
// rotate a client secret the provider never saw.
func TestTokenURLWrongPathSaysWhatToFix(t *testing.T) {
	msg := stoppedWithOAuth(t, "none-yet", func(w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r) // the provider serves its token endpoint elsewhere
	}, "/oauth/tokn")
	require.Contains(t, msg, "HTTP 404")
	require.Contains(t, msg, "-oauth-token-url", "the error does not name the token URL's setting")
	require.NotContains(t, msg, "refused client", "the error blames the client's credentials for a token URL the provider does not serve")
}

// stoppedWithOAuth runs ingestd against a fake participant that takes
// participantToken, with an OAuth2 client (id "ingester", a client secret
// holding "S3CRET") whose token endpoint idp serves at path, and returns
// the error ingestd stopped with (exit 1). Nothing it logs may hold the
// client secret.
func stoppedWithOAuth(t *testing.T, participantToken string, idp http.HandlerFunc, path string) string {
	t.Helper()
	p, err := ledgertest.New(ledgertest.WithToken(participantToken))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	_, err = p.Append(demoTxs(demoParty, 0, 5)...)
	require.NoError(t, err)
	srv := httptest.NewServer(idp)
	t.Cleanup(srv.Close)
	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: pgtest.NewDSN(t),
		"TXHISTORY_PLAINTEXT": "true", conn.EnvClientSecret: "client-S3CRET"}
	logs := &syncbuf.Buffer{}
	code, _ := runDaemon([]string{"-metrics-addr", "127.0.0.1:0", "-oauth-token-url", srv.URL + path, "-oauth-client-id", "ingester"},
		env, logs, make(chan os.Signal, 1))
	c, msg := stoppedBy(t, code, logs)
	require.Equal(t, 1, c, logs.String())
	require.NotContains(t, logs.String(), "S3CRET")
	return msg
}

package main

import (
	"encoding/json"
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

// The token endpoint issues a token, but the participant refuses it
// (UNAUTHENTICATED: another audience than the participant's, scopes it
// does not take, an identity provider it does not trust): OPERATIONS.md's
// runbook pointer for `Unauthenticated` promises an error naming the
// setting to fix, and the participant's own message is Canton's redacted
// "An error occurred …". The error must say that the token OAuth2 gave was
// refused and name the settings that shape it.
func TestOAuthTokenRefusedByTheParticipantSaysWhatToFix(t *testing.T) {
	p, err := ledgertest.New(ledgertest.WithToken("the-token-the-participant-takes"))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	_, err = p.Append(demoTxs(demoParty, 0, 5)...)
	require.NoError(t, err)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "a-token-for-another-audience", "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(idp.Close)
	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: pgtest.NewDSN(t),
		"TXHISTORY_PLAINTEXT": "true", conn.EnvClientSecret: "client-S3CRET"}
	logs := &syncbuf.Buffer{}
	code, _ := runDaemon([]string{"-metrics-addr", "127.0.0.1:0", "-oauth-token-url", idp.URL, "-oauth-client-id", "ingester"},
		env, logs, make(chan os.Signal, 1))
	c, msg := stoppedBy(t, code, logs)
	require.Equal(t, 1, c, logs.String())
	require.Contains(t, msg, "Unauthenticated")
	require.Contains(t, msg, "-oauth-audience", "the error does not name the settings of the refused token")
	require.NotContains(t, logs.String(), "S3CRET")
}

package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/stretchr/testify/require"
)

// The OAuth2 token endpoint refusing the runbook's client (its secret) or
// not serving the token URL reaches the look-ups as UNAUTHENTICATED, as a
// participant's refusal does: the error must say which one refused and
// what to fix (the client secret, the token URL), as ingestd's does, not
// that the participant refused an expired token to renew.
func TestTokenEndpointRefusalIsNotTheParticipants(t *testing.T) {
	p, dsn := tokenRig(t)

	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth/token" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad secret"}`))
	}))
	t.Cleanup(idp.Close)
	env := envOf(map[string]string{conn.EnvLedger: p.Addr(), conn.EnvAdmin: p.AdminAddr(), conn.EnvParty: treasury, conn.EnvDSN: dsn,
		"TXHISTORY_PLAINTEXT": "true", conn.EnvClientSecret: "S3cretPw"})
	for _, c := range []struct {
		name, path, want string
	}{
		{"client refused", "/oauth/token", "the token endpoint refused client runbook"},
		{"wrong path", "/oauth/tokne", "does not serve its token endpoint at -oauth-token-url"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := []string{"-poll", "10ms", "-timeout", "5s", "-mode", "unique", "-oauth-token-url", idp.URL + c.path, "-oauth-client-id", "runbook"}
			require.Equal(t, 1, run(args, env, &out, &errOut), "out:\n%s\nerr:\n%s", out.String(), errOut.String())
			require.Contains(t, errOut.String(), c.want, errOut.String())
			require.NotContains(t, errOut.String(), "the participant refused", errOut.String())
			require.NotContains(t, errOut.String(), "S3cretPw")
		})
	}
}

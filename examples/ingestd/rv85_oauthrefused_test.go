package main

import (
	"encoding/json"
	"net/http"
	"testing"

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
	msg := stoppedWithOAuth(t, "the-token-the-participant-takes", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "a-token-for-another-audience", "token_type": "Bearer", "expires_in": 3600})
	}, "")
	require.Contains(t, msg, "Unauthenticated")
	require.Contains(t, msg, "-oauth-audience", "the error does not name the settings of the refused token")
}

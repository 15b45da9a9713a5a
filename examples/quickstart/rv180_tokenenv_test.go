package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// TestRV180TokenEnvUnsetIsNamed: -token-env naming a variable that is
// unset or empty (a typo, or an export forgotten) sent no token, and
// quickstart failed with the participant's bare "Unauthenticated", which
// names neither the flag nor the variable. It must refuse before calling
// the participant and say which variable is empty.
func TestRV180TokenEnvUnsetIsNamed(t *testing.T) {
	t.Setenv("RV180_QUICKSTART_TOKEN", "")
	_, err := runWithTokenEnv(t, "RV180_QUICKSTART_TOKEN")
	require.Error(t, err)
	require.Contains(t, err.Error(), "-token-env RV180_QUICKSTART_TOKEN")
	require.NotContains(t, err.Error(), "Unauthenticated", "the participant was called without a token")
}

// TestRV182TokenEnvGivenTheTokenIsNotEchoed: -token-env takes a variable's
// name, and "-token-env $LEDGER_TOKEN" (the shell expands it) gives the
// token itself, a variable of that name being unset. The refusal must not
// print what it was given then: it is the token, and stderr goes to logs.
// A JWT is no variable name; an opaque token may look like one, but it is
// the value of another variable.
func TestRV182TokenEnvGivenTheTokenIsNotEchoed(t *testing.T) {
	for _, tok := range []string{
		"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0cmVhc3VyeSJ9.c2lnbmF0dXJlLXJ2MTgy",
		"RV182opaqueTokenValue0123456789",
	} {
		t.Setenv("RV182_QUICKSTART_TOKEN", tok)
		out, err := runWithTokenEnv(t, tok)
		require.Error(t, err)
		require.Contains(t, err.Error(), "-token-env")
		require.NotContains(t, err.Error(), tok)
		require.NotContains(t, out, tok)
	}
	// A variable's name is still named.
	t.Setenv("RV182_QUICKSTART_UNSET", "")
	_, err := runWithTokenEnv(t, "RV182_QUICKSTART_UNSET")
	require.ErrorContains(t, err, "-token-env RV182_QUICKSTART_UNSET: $RV182_QUICKSTART_UNSET is unset or empty")
}

// runWithTokenEnv runs quickstart against a fake participant that wants a
// token, with -token-env given value, and returns its output and error.
func runWithTokenEnv(t *testing.T, value string) (string, error) {
	t.Helper()
	p, err := ledgertest.New(ledgertest.WithToken("tok-good"))
	require.NoError(t, err)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	err = run(ctx, []string{"-ledger", p.Addr(), "-plaintext", "-token-env", value, "-dsn", "postgres://u@127.0.0.1:1/none"}, &out)
	return out.String(), err
}

package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// TestRV182TokenEnvGivenTheTokenIsNotEchoed: -token-env takes a variable's
// name, and "-token-env $LEDGER_TOKEN" (the shell expands it) gives the
// token itself, a variable of that name being unset. The refusal must not
// print what it was given then: it is the token, and stderr goes to logs.
// A JWT is no variable name; an opaque token may look like one, but it is
// the value of another variable.
func TestRV182TokenEnvGivenTheTokenIsNotEchoed(t *testing.T) {
	p, err := ledgertest.New(ledgertest.WithToken("tok-good"))
	require.NoError(t, err)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tok := range []string{
		"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0cmVhc3VyeSJ9.c2lnbmF0dXJlLXJ2MTgy",
		"RV182opaqueTokenValue0123456789",
	} {
		t.Setenv("RV182_QUICKSTART_TOKEN", tok)
		var out bytes.Buffer
		err = run(ctx, []string{"-ledger", p.Addr(), "-plaintext", "-token-env", tok, "-dsn", "postgres://u@127.0.0.1:1/none"}, &out)
		require.Error(t, err)
		require.Contains(t, err.Error(), "-token-env")
		require.NotContains(t, err.Error(), tok)
		require.NotContains(t, out.String(), tok)
	}
	// A variable's name is still named.
	t.Setenv("RV182_QUICKSTART_UNSET", "")
	err = run(ctx, []string{"-ledger", p.Addr(), "-plaintext", "-token-env", "RV182_QUICKSTART_UNSET", "-dsn", "postgres://u@127.0.0.1:1/none"}, &bytes.Buffer{})
	require.ErrorContains(t, err, "-token-env RV182_QUICKSTART_UNSET: $RV182_QUICKSTART_UNSET is unset or empty")
}

package main

import (
	"bytes"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/stretchr/testify/require"
)

// TestTokenEnvGivenTheTokenIsNotEchoed: -token-env takes a variable's name;
// "-token-env $OPERATOR_TOKEN" (the shell expanding it) gives the token
// itself, and no variable has that name. The refusal must not print what
// it was given: stderr goes to the operator's terminal log.
func TestTokenEnvGivenTheTokenIsNotEchoed(t *testing.T) {
	r := newRestored(t, nil)
	tok := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvcGVyYXRvciJ9.c2lnbmF0dXJlLXJ1bmJvb2s"
	env := map[string]string{conn.EnvDSN: r.dsn}
	args := []string{"-ledger", r.p.Addr(), "-admin", r.p.AdminAddr(), "-plaintext", "-party", treasury, "-poll", "10ms",
		"-token-env", tok}
	var out, errOut bytes.Buffer
	require.NotEqual(t, 0, run(args, envOf(env), &out, &errOut))
	require.Contains(t, errOut.String(), conn.ErrTokenEnvNotAName.Error())
	require.NotContains(t, errOut.String(), tok)
	require.NotContains(t, out.String(), tok)
}

package main

import (
	"bytes"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/stretchr/testify/require"
)

// TestUnsupportedPGVariableIsNamed: with a libpq variable lib/pq does not
// support in the environment (PGGSSENCMODE=disable), lib/pq refuses every
// DSN; the runbook blamed the DSN and withheld the message that names the
// variable. It names it now.
func TestUnsupportedPGVariableIsNamed(t *testing.T) {
	t.Setenv("PGGSSENCMODE", "disable")
	args := []string{"-ledger", "127.0.0.1:1", "-admin", "127.0.0.1:1", "-party", treasury}
	env := map[string]string{conn.EnvDSN: "postgres://u:pw-S3CRET@db.internal/x?sslmode=verify-full"}
	var out, errOut bytes.Buffer
	require.Equal(t, 2, run(args, envOf(env), &out, &errOut), errOut.String())
	require.Contains(t, errOut.String(), "PGGSSENCMODE", "the refusal does not name the variable lib/pq refuses:\n%s", errOut.String())
	require.NotContains(t, errOut.String(), "not a PostgreSQL connection string", "the refusal blames a DSN lib/pq would accept")
	require.NotContains(t, errOut.String(), "pw-S3CRET")
}

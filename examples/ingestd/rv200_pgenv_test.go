package main

import (
	"os"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// TestUnsupportedPGVariableIsNamed: lib/pq refuses every connection
// string while the environment holds a libpq variable it does not support
// (PGGSSENCMODE=disable, a common setting for psql; PGCHANNELBINDING,
// PGREQUIREAUTH, PGSSLCRL). ingestd said the DSN was not one lib/pq
// accepts and withheld lib/pq's message, which names the variable and
// quotes no secret: the operator checked a DSN that was fine, with no way
// to find the cause. It now names the variable and says the DSN is not at
// fault.
func TestUnsupportedPGVariableIsNamed(t *testing.T) {
	t.Setenv("PGGSSENCMODE", "disable")
	env := map[string]string{conn.EnvLedger: "127.0.0.1:1", conn.EnvParty: demoParty, "TXHISTORY_PLAINTEXT": "true",
		conn.EnvDSN: "postgres://ingest:pw-S3CRET@db.internal:5432/integration?sslmode=verify-full"}
	logs := &syncbuf.Buffer{}
	code := run(nil, envOf(env), logs, make(chan os.Signal, 1), nil)
	require.Equal(t, 2, code, logs.String())
	out := logs.String()
	require.Contains(t, out, "PGGSSENCMODE", "the refusal does not name the variable lib/pq refuses:\n%s", out)
	require.False(t, strings.Contains(out, "is not a PostgreSQL connection string"), "the refusal blames a DSN lib/pq would accept:\n%s", out)
	require.NotContains(t, out, "pw-S3CRET")
}

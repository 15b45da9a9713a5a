package ingest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Many exchanges put PgBouncer in front of PostgreSQL. In transaction
// pooling the ingestion lock, a session-level advisory lock held on an idle
// connection of its own, is not the ingester's: the operator's guide must
// say where to connect the ingester, and what else works behind such a pool.
func TestRV52ConnectionPoolersAreDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/OPERATIONS.md")
	require.NoError(t, err)
	doc := strings.Join(strings.Fields(strings.ReplaceAll(string(b), "`", "")), " ")
	_, pooler, found := strings.Cut(doc, "PgBouncer")
	require.True(t, found, "docs/OPERATIONS.md says nothing of PgBouncer")
	for _, s := range []string{"transaction pooling", "session-level advisory lock", "pool_mode = session", "ingest.LockNone",
		"prepared statements", "LISTEN", "SET LOCAL"} {
		require.True(t, strings.Contains(pooler, s), "docs/OPERATIONS.md, on PgBouncer, does not say %q", s)
	}
}

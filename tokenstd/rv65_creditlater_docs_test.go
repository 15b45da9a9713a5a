package tokenstd_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ingestd as shipped has no deposit crediter (tokenstd.Config.Credit) and
// no refunder. An exchange that ran it, then restarts over the same
// Integration DB with its own service and hooks, never gets the deposits
// (and refunds) ingested before passed to them: dedup does not hand those
// transactions to any handler again. The operator's guide and Config.Credit
// must say so, and where to find what was not credited.
func TestRV65CrediterAddedLaterIsDocumented(t *testing.T) {
	norm := func(path string) string {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		return strings.Join(strings.Fields(strings.NewReplacer("`", "", "//", "").Replace(string(b))), " ")
	}
	ops := norm("../docs/OPERATIONS.md")
	_, shipped, found := strings.Cut(ops, "ingestd as shipped records the history")
	require.True(t, found)
	shipped, _, _ = strings.Cut(shipped, "Run two instances")
	for _, s := range []string{"not passed to", "kind = 'deposit'", "closed_at"} {
		require.Contains(t, shipped, s, "docs/OPERATIONS.md does not say what a crediter or refunder added later misses (%q)", s)
	}
	src := norm("history.go")
	_, credit, found := strings.Cut(src, "Credit, if set, is called for every new deposit.")
	require.True(t, found)
	credit, _, _ = strings.Cut(credit, "Account AccountFunc")
	require.Contains(t, credit, "not passed to it", "tokenstd.Config.Credit does not say that deposits ingested without it are not passed to it later")
}

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
	p, err := ledgertest.New(ledgertest.WithToken("tok-good"))
	require.NoError(t, err)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Setenv("RV180_QUICKSTART_TOKEN", "")
	var out bytes.Buffer
	err = run(ctx, []string{"-ledger", p.Addr(), "-plaintext", "-token-env", "RV180_QUICKSTART_TOKEN", "-dsn", "postgres://u@127.0.0.1:1/none"}, &out)
	require.Error(t, err)
	require.Contains(t, err.Error(), "-token-env RV180_QUICKSTART_TOKEN")
	require.NotContains(t, err.Error(), "Unauthenticated", "the participant was called without a token")
}

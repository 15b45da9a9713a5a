package main

import (
	"io"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/stretchr/testify/require"
)

// -demo-backlog -5 was taken as no backlog at all, silently, where
// -demo-rate -1 is refused (TestNegativeSettingsAndSchemaNameTheFlag): a
// negative count is a configuration error naming its flag.
func TestNegativeDemoBacklogNamesTheFlag(t *testing.T) {
	_, err := parseConfig([]string{"-demo", "-demo-backlog", "-5"}, envOf(nil), io.Discard)
	require.ErrorContains(t, err, "-demo-backlog must not be negative (got -5)")
	_, err = parseConfig([]string{"-demo", "-demo-backlog", "0"}, envOf(nil), io.Discard)
	require.NoError(t, err, "an empty backlog is a choice")
}

// The demo's own flags without -demo do nothing: refused, as -migrate-to
// without -migrate-only is, rather than ignored (an operator who meant a
// demo, or a typo of another flag's name, learns it at start).
func TestDemoFlagsNeedDemo(t *testing.T) {
	env := envOf(map[string]string{conn.EnvLedger: "validator:5001", conn.EnvParty: "treasury::1", conn.EnvDSN: "postgres://localhost/integration"})
	for _, name := range []string{"demo-rate", "demo-backlog"} {
		_, err := parseConfig([]string{"-" + name, "10"}, env, io.Discard)
		require.ErrorContains(t, err, "-"+name+" needs -demo", name)
	}
	_, err := parseConfig(nil, env, io.Discard)
	require.NoError(t, err, "their defaults alone are no setting")
}

package main

import (
	"io"
	"testing"

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

package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// -timeout bounds, besides the wait for tRecovery and the package
// listing, the read of the synchronizers the participant reports (its
// next OffsetCheckpoint, about a minute on a quiet ledger) and the read of
// the treasury's transactions for synchronizers the Integration DB never
// saw; the errors of both tell the operator to run again with a longer
// -timeout. Its help (runbook -h) and the doc comment's flag list must say
// so: an operator who sets -timeout 30s from the help alone fails on a
// quiet ledger, and one with a long history cannot tell what to size it
// for.
func TestTimeoutHelpNamesTheSynchronizerReadAndTheScan(t *testing.T) {
	var out, usage bytes.Buffer
	require.Equal(t, 0, run([]string{"-h"}, envOf(nil), &out, &usage))
	help := regexp.MustCompile(`(?s)\n  -timeout duration\n\s+(.*?)\n  -`).FindStringSubmatch(usage.String())
	require.NotNil(t, help, "runbook -h shows no -timeout:\n%s", usage.String())

	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	// The flag's line and the continuation lines below it.
	doc := regexp.MustCompile(`(?m)^//\t-timeout\s+(.*(?:\n//\t {10,}.*)*)`).FindStringSubmatch(string(src))
	require.NotNil(t, doc, "the doc comment lists no -timeout")

	for name, text := range map[string]string{"runbook -h": help[1], "the doc comment": doc[1]} {
		require.Contains(t, text, "OffsetCheckpoint", "%s: -timeout's help does not name the read of the synchronizers the participant reports: %q", name, text)
		require.True(t, strings.Contains(text, "never saw"), "%s: -timeout's help does not name the read for synchronizers the Integration DB never saw: %q", name, text)
	}
}

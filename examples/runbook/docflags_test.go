package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDocCommentListsEveryFlag: the flag list of the command's doc comment
// (what `go doc` shows an operator) names every flag `runbook -h` has, and
// no other.
func TestDocCommentListsEveryFlag(t *testing.T) {
	var out, usage bytes.Buffer
	require.Equal(t, 0, run([]string{"-h"}, envOf(nil), &out, &usage))
	have := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(usage.String(), -1) {
		have[m[1]] = true
	}
	require.Greater(t, len(have), 20)

	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	doc, _, _ := strings.Cut(string(src), "\npackage main")
	_, list, ok := strings.Cut(doc, "Flags (environment variable in\n// parentheses):")
	require.True(t, ok, "the doc comment's flag list")
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^//\t(-[a-z0-9-]+(?:, -[a-z0-9-]+)*)`).FindAllStringSubmatch(list, -1) {
		for _, f := range strings.Split(m[1], ", ") {
			listed[strings.TrimPrefix(f, "-")] = true
		}
	}
	for f := range have {
		require.True(t, listed[f], "runbook -h has -%s, which the doc comment's flag list leaves out", f)
	}
	for f := range listed {
		require.True(t, have[f], "the doc comment lists -%s, which runbook does not have", f)
	}
}

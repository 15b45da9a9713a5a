package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMarkdownCodeBlocksClose: in CommonMark a ``` block closes only at a
// line of backticks and nothing else; a line starting with ``` and more
// text inside a block does not close it, and the prose after it renders as
// code.
func TestMarkdownCodeBlocksClose(t *testing.T) {
	closing := regexp.MustCompile("^ {0,3}```+[ \t]*$")
	opening := regexp.MustCompile("^ {0,3}```")
	for _, name := range []string{"../../docs/OPERATIONS.md", "../../README.md", "../README.md", "../../BENCHMARKS.md"} {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		in := false
		for i, line := range strings.Split(string(b), "\n") {
			switch {
			case !in && opening.MatchString(line):
				in = true
			case in && closing.MatchString(line):
				in = false
			case in && opening.MatchString(line):
				t.Errorf("%s:%d: %q does not close the code block above it", filepath.Base(name), i+1, line)
			}
		}
		require.False(t, in, "%s ends inside a code block", name)
	}
}

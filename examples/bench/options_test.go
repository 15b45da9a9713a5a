package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBenchRefusesUnknownPhases: -phases names the phases to run. A name
// the bench does not know (a typo: "tails", or " tail" after a comma and
// a space) ran nothing, and the run succeeded: -json then printed
// tail_p99_ms 0 under "phases": ["tails"], a p99 of 0 ms that a script
// reading the line takes for a measured one.
func TestBenchRefusesUnknownPhases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, phases := range []string{"tails", "throughput, tail", "memory,,tail"} {
		var out strings.Builder
		// Nothing listens on port 1: no phase may get as far as the database.
		res, err := run(ctx, options{N: 300, MemN: 300, TailRate: 1000, TailFor: time.Second,
			DSN: "postgres://bench@127.0.0.1:1/none?sslmode=disable", Phases: phases}, &out)
		require.Error(t, err, "-phases %q ran and printed %+v", phases, res)
		require.ErrorContains(t, err, "-phases", "-phases %q", phases)
	}
}

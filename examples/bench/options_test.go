package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/assert"
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

// TestBenchRefusesCountsThatMeasureNothing: a phase given no transactions
// to measure must be refused, not run: -n 0 streamed a ledger without end
// and hung, -mem-n 0 as well, -tail-for shorter than one transaction's
// -tail-for 0 panicked on an empty list of latencies, and -tail-rate 0 made
// the fake divide by zero.
func TestBenchRefusesCountsThatMeasureNothing(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	for _, c := range []struct {
		flag string
		o    options
	}{
		{"-n", options{N: 0, Phases: "throughput"}},
		{"-mem-n", options{MemN: 0, Phases: "memory"}},
		{"-tail-for", options{TailRate: 1000, TailFor: 0, Phases: "tail"}},
		{"-tail-rate", options{TailRate: 0, TailFor: time.Second, Phases: "tail"}},
	} {
		c.o.DSN = dsn
		err := runNoPanic(t, c.o, 10*time.Second)
		assert.ErrorContains(t, err, c.flag+" ", "-phases %s", c.o.Phases)
	}
}

// runNoPanic runs the bench with o for at most d, and returns a panic as
// an error.
func runNoPanic(t *testing.T, o options, d time.Duration) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	var out strings.Builder
	_, err = run(ctx, o, &out)
	t.Log(out.String())
	return err
}

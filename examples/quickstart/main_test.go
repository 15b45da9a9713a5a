package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestScriptedHistory: the main job ingests the scripted history and
// prints the checkpoint and the treasury's balances.
func TestScriptedHistory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"-dsn", pgtest.NewDSN(t), "-n", "200"}, &out))
	require.Contains(t, out.String(), "checkpoint: offset ")
	require.Contains(t, out.String(), "treasury balances (from its live holdings):")
}

// TestEmptyLedger: a participant with nothing on its ledger (ledger end 0)
// is said so and the command returns, instead of tailing for ever (an
// EndOffset of 0 means no end).
func TestEmptyLedger(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"-dsn", pgtest.NewDSN(t), "-n", "0"}, &out))
	require.NoError(t, ctx.Err(), "returned only when the test's deadline passed")
	require.Contains(t, out.String(), "ledger end 0: the participant has no transactions to ingest")
}

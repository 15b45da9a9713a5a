package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
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
	o := out.String()
	require.Contains(t, o, "treasury balances (from its live holdings):")
	// What it printed adds up: the checkpoint at the ledger end, every
	// ingested transaction's update id stored, the kinds' counts summing
	// to the entries, and a balance per instrument.
	var end, ingested, batches, offset, ids, entries int
	scan := func(prefix, format string, args ...any) {
		t.Helper()
		i := strings.Index(o, prefix)
		require.GreaterOrEqual(t, i, 0, "%q in:\n%s", prefix, o)
		_, err := fmt.Sscanf(o[i:], format, args...)
		require.NoError(t, err, "%q in:\n%s", prefix, o)
	}
	scan("fake participant", "fake participant on %s 200 transactions, ledger end %d", new(string), &end)
	scan("ingested ", "ingested %d transactions in %d batches", &ingested, &batches)
	scan("checkpoint: ", "checkpoint: offset %d,", &offset)
	scan("update ids in the database: ", "update ids in the database: %d", &ids)
	scan("history entries: ", "history entries: %d", &entries)
	require.Equal(t, 200, end)
	require.Equal(t, end, offset, "the checkpoint reached the ledger end")
	require.Positive(t, ingested)
	require.Equal(t, ingested, ids, "an update id stored per ingested transaction")
	kinds := o[strings.Index(o, "history entries: "):strings.Index(o, "treasury balances")]
	sum := 0
	for _, line := range strings.Split(kinds, "\n")[1:] {
		var kind string
		var n int
		if _, err := fmt.Sscanf(line, "%s %d", &kind, &n); err == nil {
			sum += n
		}
	}
	require.Positive(t, entries)
	require.Equal(t, entries, sum, "the kinds' counts add up to the entries:\n%s", kinds)
	balances := strings.Split(strings.TrimSpace(o[strings.Index(o, "treasury balances"):]), "\n")[1:]
	require.Len(t, balances, 2, "Amulet and USDX:\n%s", o)
	for _, b := range balances {
		f := strings.Fields(b)
		require.Regexp(t, `^-?[0-9]+(\.[0-9]+)?$`, f[len(f)-1], b)
	}
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

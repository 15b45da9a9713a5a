package withdrawal_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The restore procedure's log lines name tSafe and the ingested record time
// only once they are known: before step 3 neither is, and a line reading
// tsafe=0001-01-01T00:00:00.000Z sends an operator looking for a clock
// fault. Once known, they are there.
func TestRestoreProcedureLogsNoUnknownTimes(t *testing.T) {
	var buf bytes.Buffer // the procedure's lines and the store's (the gate's)
	e := newEnv(t, withdrawal.Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))}, withdrawal.ReconcilerConfig{})
	e.mint("10")
	ledgerNow := e.world.Now()
	p := withdrawal.RestoreProcedure{
		Store:        e.store,
		TTL:          ttl,
		Now:          func() time.Time { return ledgerNow },
		PollInterval: time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(&buf, nil)),
		Restore:      func(context.Context) error { return nil },
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepWait && !pr.Done && pr.Waited > 0 {
				e.tick(e.times[e.world.SynchronizerID].Add(ttl / 2)) // ingestion moves on
			}
		},
	}
	_, err := p.Run(e.ctx)
	require.NoError(t, err)
	out := buf.String()
	require.NotContains(t, out, "0001-01-01", "a log line names a time not known yet:\n%s", out)
	var withTSafe, withIngested int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(line, " tsafe=") {
			withTSafe++
		}
		if strings.Contains(line, " ingested_record_time=") {
			withIngested++
		}
	}
	require.Positive(t, withTSafe, "no line names tSafe once known:\n%s", out)
	require.Positive(t, withIngested, "no line names the ingested record time once known:\n%s", out)
}

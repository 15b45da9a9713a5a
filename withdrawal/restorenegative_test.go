package withdrawal_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cantonx/txhistory/withdrawal"
)

// A negative PollInterval or ReportInterval is refused by name before the
// procedure closes the gate, as NewAutomation refuses its negatives.
func TestRestoreProcedureRefusesNegativeIntervals(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	for _, p := range []withdrawal.RestoreProcedure{
		{Store: e.store, TTL: time.Hour, PollInterval: -time.Millisecond, Logger: quietLog},
		{Store: e.store, TTL: time.Hour, ReportInterval: -time.Millisecond, Logger: quietLog},
	} {
		_, err := p.Run(e.ctx)
		require.Error(t, err)
		require.Regexp(t, `RestoreProcedure\.(PollInterval|ReportInterval) is negative \(-1ms\)`, err.Error())
	}
	g, err := e.store.Gate(e.ctx)
	require.NoError(t, err)
	require.True(t, g.Enabled, "the gate was closed by a procedure refused for its settings")
}

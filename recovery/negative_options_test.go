package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cantonx/txhistory/recovery"
)

// A negative Timeout or PollInterval is refused by name, as ingest.New and
// withdrawal.NewAutomation refuse theirs, instead of being taken for the
// default: a caller writing -1 meant something else.
func TestPlanRefusesNegativeOptions(t *testing.T) {
	for _, o := range []recovery.Options{
		{Parties: []string{"treasury::1"}, Timeout: -time.Second},
		{Parties: []string{"treasury::1"}, PollInterval: -time.Millisecond},
	} {
		_, err := recovery.Plan(context.Background(), nil, nil, o)
		require.Error(t, err)
		require.Regexp(t, `Options\.(Timeout|PollInterval) is negative \(-1(s|ms)\)`, err.Error())
	}
	// Zero still means the default.
	o := recovery.Options{}.WithDefaults()
	require.Equal(t, recovery.TimeoutDefault, o.Timeout)
	require.Equal(t, recovery.PollIntervalDefault, o.PollInterval)
}

package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A negative PollInterval, BatchSize or SubmitTimeout is a mistake (a "-1
// for no timeout" this Config does not offer): NewAutomation refuses it
// naming the field instead of running with the default. Zero still means
// the default.
func TestNewAutomationRefusesNegativeSettings(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	submit := withdrawal.SubmitFunc(func(context.Context, *withdrawal.Withdrawal) error { return nil })
	for name, cfg := range map[string]withdrawal.AutomationConfig{
		"PollInterval":  {Submitter: submit, PollInterval: -time.Second},
		"BatchSize":     {Submitter: submit, BatchSize: -1},
		"SubmitTimeout": {Submitter: submit, SubmitTimeout: -time.Minute},
	} {
		_, err := withdrawal.NewAutomation(e.store, cfg)
		require.ErrorContains(t, err, "AutomationConfig."+name, name)
		require.ErrorContains(t, err, "negative", name)
	}
	_, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: submit})
	require.NoError(t, err, "zero: the defaults")
}

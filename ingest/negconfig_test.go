package ingest_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// A negative size, delay or interval in ingest.Config is a mistake (a
// sign dropped, a "-1 for off" that this Config does not offer): New
// refuses it naming the field instead of running with the default, which
// the caller did not ask for. Zero still means the default, and the fields
// documented "if positive" (StallTimeout, MaxAttempts) or "negative: ..."
// (LockCheck) keep their documented meaning.
func TestNewRefusesNegativeSettings(t *testing.T) {
	_, db, _, client := embedRig(t)
	base := ingest.Config{Parties: []string{"treasury::1"}}
	for name, set := range map[string]func(*ingest.Config){
		"MaxBatchSize":      func(c *ingest.Config) { c.MaxBatchSize = -1 },
		"MaxBatchDelay":     func(c *ingest.Config) { c.MaxBatchDelay = -time.Millisecond },
		"MinBackoff":        func(c *ingest.Config) { c.MinBackoff = -time.Second },
		"MaxBackoff":        func(c *ingest.Config) { c.MaxBackoff = -time.Second },
		"LedgerEndPoll":     func(c *ingest.Config) { c.LedgerEndPoll = -time.Second },
		"StreamBuffer":      func(c *ingest.Config) { c.StreamBuffer = -1 },
		"StreamBufferBytes": func(c *ingest.Config) { c.StreamBufferBytes = -1 },
		"LockPoll":          func(c *ingest.Config) { c.LockPoll = -time.Second },
	} {
		cfg := base
		set(&cfg)
		_, err := ingest.New(db, client, cfg)
		require.ErrorContains(t, err, "Config."+name, name)
		require.ErrorContains(t, err, "negative", name)
	}
	cfg := base
	cfg.MaxBatchDelay = -time.Millisecond
	_, err := ingest.New(db, client, cfg)
	require.ErrorContains(t, err, "(-1ms)", "a duration is named as one")
	cfg = base
	cfg.StallTimeout, cfg.MaxAttempts, cfg.LockCheck = -time.Second, -1, -time.Second
	_, err = ingest.New(db, client, cfg)
	require.NoError(t, err, "negative StallTimeout, MaxAttempts and LockCheck have a documented meaning")
	_, err = ingest.New(db, client, base)
	require.NoError(t, err, "zero: the defaults")
}

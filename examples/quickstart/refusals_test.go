package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/require"
)

// TestMalformedDSNDoesNotPrintPassword: a -dsn whose password holds a
// character that a URL must percent-encode ("/", "#", "?") is not a URL
// lib/pq can parse. The message quickstart prints on stderr (main prints
// ingest.Redact(err.Error())) must not quote the password, as ingestd and
// the runbook withhold lib/pq's message for the same reason.
func TestMalformedDSNDoesNotPrintPassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://txuser:S3cretPw/x@127.0.0.1:1/integration",
		"postgres://txuser:S3cretPw#x@127.0.0.1:1/integration",
		"postgres://txuser:S3cretPw?x@127.0.0.1:1/integration",
	} {
		t.Run(dsn, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out bytes.Buffer
			err := run(ctx, []string{"-dsn", dsn, "-n", "1"}, &out)
			require.Error(t, err)
			printed := "quickstart: " + ingest.Redact(err.Error())
			require.NotContains(t, printed, "S3cret", "stderr would show: %s", printed)
			require.NotContains(t, out.String(), "S3cret")
		})
	}
}

// TestCheckpointBeyondLedgerEndIsNotSuccess: run again on the same -dsn
// against a participant whose ledger end is below the stored checkpoint
// (a participant restored from a backup; here a shorter fake ledger that
// does not know the last ingested update), quickstart must fail as the
// ingester does without an end offset (ingest.ErrParticipantRestored, or
// ErrCheckpointBeyondLedgerEnd),
// not report "ingested 0 transactions" with the old checkpoint and
// balances and exit 0.
func TestCheckpointBeyondLedgerEndIsNotSuccess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := pgtest.NewDSN(t)
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"-dsn", dsn, "-n", "300"}, &out))
	out.Reset()
	err := run(ctx, []string{"-dsn", dsn, "-n", "100"}, &out)
	require.Error(t, err, "exit 0 with output:\n%s", out.String())
	require.True(t, errors.Is(err, ingest.ErrParticipantRestored) || errors.Is(err, ingest.ErrCheckpointBeyondLedgerEnd), "%v", err)
}

package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
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

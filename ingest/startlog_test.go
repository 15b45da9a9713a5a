package ingest_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// The "starting" line names the last ingested transaction only when there
// is one: on a fresh checkpoint it names no empty update id and no
// record_time=0001-01-01, which reads like a clock fault. On a restart it
// names both.
func TestStartingLineNamesOnlyWhatIsKnown(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 1, 3)
	run := func() string {
		var logs syncbuf.Buffer
		ing := newIngester(t, b, ingest.Config{EndOffset: b.p.LedgerEnd(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		require.NoError(t, ing.Run(context.Background()))
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "ingest: starting") {
				return line
			}
		}
		t.Fatalf("no starting line:\n%s", logs.String())
		return ""
	}
	fresh := run()
	require.NotContains(t, fresh, "0001-01-01", fresh)
	require.NotContains(t, fresh, "update_id=", fresh)
	require.Contains(t, fresh, "offset=0", fresh)

	again := run()
	require.Regexp(t, `update_id=\S+ record_time=\d{4}-`, again)
	require.NotContains(t, again, "0001-01-01", again)
}

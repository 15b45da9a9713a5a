package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// The parties column holds a list the Ingester reads as a set (Get
// normalises it) but that is not stored in that form: an empty array (read
// as none recorded) or parties out of order (written by hand, e.g. an
// operator fixing the recorded party). Recording Config.Parties over it
// must not take it for another ingester's write and retry without end:
// Run must record the parties and ingest.
func TestRV74PartiesStoredNotNormalisedAreRecorded(t *testing.T) {
	for _, c := range []struct {
		name, stored string
		accept       bool
	}{
		{"empty", `{}`, false},
		{"unsorted", `{` + treasury + `,` + depositParty + `}`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := setup(t)
			appendN(t, b.p, 0, 3)
			runToEnd(t, b, ingest.Config{})
			_, err := b.db.Exec(`UPDATE txhistory.checkpoint SET parties = $1::text[]`, c.stored)
			require.NoError(t, err)
			appendN(t, b.p, 3, 3)

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = newIngester(t, b, ingest.Config{EndOffset: b.p.LedgerEnd(), AcceptPartiesChange: c.accept}).Run(ctx)
			require.NoError(t, err, "Run over the parties stored as %s", c.stored)
			st := readState(t, b.db)
			require.Equal(t, []string{treasury}, st.Checkpoint.Parties)
			require.Equal(t, b.p.LedgerEnd(), st.Checkpoint.Offset)
		})
	}
}

package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A DBA's default_transaction_read_only = on for the database, which
// OPERATIONS.md says does not stop txhistory's writes (lib/pq begins every
// transaction READ WRITE): Run records Config.Parties with the checkpoint
// when it has none recorded (an Integration DB ingested before schema
// version 010) or under AcceptPartiesChange, and ingests. It ran that
// one statement outside a transaction, which the setting refuses (25006),
// and Run stopped; after a lost lock, mid-run.
func TestRV185PartiesRecordedUnderDefaultReadOnly(t *testing.T) {
	for _, c := range []struct {
		name, stored string // NULL: none recorded
		parties      []string
		accept       bool
	}{
		{"none recorded", "", []string{treasury}, false},
		{"accepted change", `{` + treasury + `}`, []string{treasury, depositParty}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := setup(t)
			appendN(t, b.p, 0, 3)
			runToEnd(t, b, ingest.Config{})
			var stored any
			if c.stored != "" {
				stored = c.stored
			}
			_, err := b.db.Exec(`UPDATE txhistory.checkpoint SET parties = $1::text[]`, stored)
			require.NoError(t, err)
			_, err = b.db.Exec(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_read_only = on', current_database()); END $$`)
			require.NoError(t, err)
			db, err := sqlx.Open("postgres", b.dsn) // new sessions take the setting
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			b.db = db
			var ro string
			require.NoError(t, db.Get(&ro, `SHOW default_transaction_read_only`))
			require.Equal(t, "on", ro)
			appendN(t, b.p, 3, 3)

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = newIngester(t, b, ingest.Config{Parties: c.parties, EndOffset: b.p.LedgerEnd(), AcceptPartiesChange: c.accept}).Run(ctx)
			require.NoError(t, err, "Run under default_transaction_read_only = on")
			st := readState(t, db)
			require.ElementsMatch(t, c.parties, st.Checkpoint.Parties)
			require.Equal(t, b.p.LedgerEnd(), st.Checkpoint.Offset)
			requireAllOnce(t, b)
		})
	}
}

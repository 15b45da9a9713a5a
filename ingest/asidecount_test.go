package ingest_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// A batch that set a transaction aside and then failed to commit (a
// serialization failure at COMMIT, retried) sets it aside again on the
// retry: Stats and the log count it once, when it is committed.
func TestSetAsideCountedOnceWhenTheCommitIsRetried(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 20)
	txs := treasuryTxs(b.p)
	rejected := txs[len(txs)/2].UpdateID

	// The first COMMIT of a transaction that inserted a review row fails
	// with serialization_failure (40001); a sequence keeps the count
	// across the rollback.
	_, err := b.db.Exec(`
CREATE SEQUENCE aside_commits;
CREATE FUNCTION fail_first_aside_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('aside_commits') = 1 THEN
    RAISE EXCEPTION 'test: first commit with a set-aside row fails' USING ERRCODE = '40001';
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER fail_first_aside_commit AFTER INSERT ON txhistory.review_transaction
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_first_aside_commit();`)
	require.NoError(t, err)

	var logs syncbuf.Buffer
	h := rejecting(rejected, cannotApply)
	ing := newIngester(t, b, ingest.Config{Handler: h, Poison: ingest.PoisonSetAside, EndOffset: b.p.LedgerEnd(),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, ing.Run(ctx))

	var commits int
	require.NoError(t, b.db.Get(&commits, `SELECT last_value FROM aside_commits`))
	require.Equal(t, 2, commits, "the first commit failed and the batch was retried")
	aside, err := ing.SetAsideTransactions(context.Background())
	require.NoError(t, err)
	require.Len(t, aside, 1)
	require.Equal(t, rejected, aside[0].UpdateID)
	require.Equal(t, int64(1), ing.Stats().SetAside, "counted once, though set aside in two attempts")
	require.Equal(t, 1, strings.Count(logs.String(), "transaction set aside for review"), "logged once:\n%s", logs.String())
	var effects int
	require.NoError(t, b.db.Get(&effects, `SELECT count(*) FROM effects`))
	require.Equal(t, len(txs)-1, effects, "every other transaction applied once")
}

// A transaction the review table holds already (an undecodable one met
// again after the checkpoint went back) keeps its first record: it is
// logged as set aside again and not counted as new.
func TestSetAsideAgainKeepsTheFirstRecord(t *testing.T) {
	b := setup(t)
	malformed := appendAroundMalformed(t, b.p, 5, 500)
	_, err := b.db.Exec(`INSERT INTO txhistory.review_transaction (update_id, ledger_offset, error) VALUES ($1, $2, 'first')`,
		malformed.UpdateID, malformed.Offset)
	require.NoError(t, err)

	var logs syncbuf.Buffer
	ing := newIngester(t, b, ingest.Config{Poison: ingest.PoisonSetAside, EndOffset: b.p.LedgerEnd(),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, ing.Run(context.Background()))
	require.Equal(t, int64(0), ing.Stats().SetAside)
	require.Equal(t, 1, strings.Count(logs.String(), "set aside for review again"), logs.String())
	require.Contains(t, logs.String(), malformed.UpdateID)
	aside, err := ing.SetAsideTransactions(context.Background())
	require.NoError(t, err)
	require.Len(t, aside, 1)
	require.Equal(t, "first", aside[0].Error)
	require.Equal(t, b.p.LedgerEnd(), readState(t, b.db).Checkpoint.Offset)
}

// The same replay after an operator resolved the transaction: the log says
// it was resolved already and asks nothing of anyone (Info, not the
// "set aside for review again" warning), and the resolution is kept.
func TestSetAsideAgainAfterResolutionSaysResolved(t *testing.T) {
	b := setup(t)
	malformed := appendAroundMalformed(t, b.p, 5, 500)
	_, err := b.db.Exec(`INSERT INTO txhistory.review_transaction (update_id, ledger_offset, error, resolved_at, resolution)
		VALUES ($1, $2, 'first', now(), 'skipped: a test transaction')`, malformed.UpdateID, malformed.Offset)
	require.NoError(t, err)

	var logs syncbuf.Buffer
	ing := newIngester(t, b, ingest.Config{Poison: ingest.PoisonSetAside, EndOffset: b.p.LedgerEnd(),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, ing.Run(context.Background()))
	require.Equal(t, int64(0), ing.Stats().SetAside)
	require.NotContains(t, logs.String(), "set aside for review again", logs.String())
	require.Equal(t, 1, strings.Count(logs.String(), "it was resolved already"), logs.String())
	require.Contains(t, logs.String(), "level=INFO msg=\"ingest: transaction set aside again on a replay")
	var resolution string
	require.NoError(t, b.db.Get(&resolution, `SELECT resolution FROM txhistory.review_transaction WHERE update_id = $1`, malformed.UpdateID))
	require.Equal(t, "skipped: a test transaction", resolution)
	require.Equal(t, b.p.LedgerEnd(), readState(t, b.db).Checkpoint.Offset)
}

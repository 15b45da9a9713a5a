package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const treasury = "treasury::1220abcd"

// The command against a restored fake participant: flags checked, a dry
// run, then -yes, after which ingestion resumes.
func TestRunbookCommand(t *testing.T) {
	ctx := context.Background()
	p, err := ledgertest.New(ledgertest.WithSeparateAdmin())
	require.NoError(t, err)
	t.Cleanup(p.Close)
	dsn := pgtest.NewDSN(t)
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, schema.Migrate(ctx, db))

	var txs []*ledger.Transaction
	for i := range 50 {
		txs = append(txs, &ledger.Transaction{UpdateID: fmt.Sprintf("u-%d", i), Events: []ledger.Event{&ledger.CreatedEvent{
			ContractID: fmt.Sprintf("00c%d", i), TemplateID: ledger.MustParseIdentifier("1220ee:M:T"), PackageName: "pkg",
			CreateArguments: ledger.Record(nil), WitnessParties: []string{treasury}, Signatories: []string{treasury},
		}}})
	}
	_, err = p.Append(txs[:20]...)
	require.NoError(t, err)
	backup := p.Backup()
	stored, err := p.Append(txs[20:]...)
	require.NoError(t, err)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	ingestTo := func(end int64) error {
		ing, err := ingest.New(db, client, ingest.Config{Parties: []string{treasury}, EndOffset: end, MinBackoff: time.Millisecond, MaxAttempts: 3,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		require.NoError(t, err)
		return ing.Run(ctx)
	}
	require.NoError(t, ingestTo(40))
	p.Restore(backup)
	require.ErrorIs(t, ingestTo(p.LedgerEnd()), ingest.ErrParticipantRestored)

	base := []string{"-ledger", p.Addr(), "-admin", p.AdminAddr(), "-plaintext", "-dsn", dsn, "-party", treasury, "-poll", "10ms"}
	var out, errOut bytes.Buffer
	require.Equal(t, 2, run([]string{"-ledger", p.Addr()}, &out, &errOut), "missing flags")
	require.Contains(t, errOut.String(), "-admin is required")
	require.Equal(t, 2, run(append(base, "-mode", "sometimes"), &out, &errOut))

	out.Reset()
	require.Equal(t, 0, run(append(base, "-since", stored[0].RecordTime.Format(time.RFC3339Nano)), &out, &errOut), errOut.String())
	t.Log("\n" + out.String())
	require.Contains(t, out.String(), "dry run: would move the checkpoint from offset 40 to")
	require.Contains(t, out.String(), "1220ee pkg")

	out.Reset()
	require.Equal(t, 0, run(append(base, "-yes", "-note", "drill by t"), &out, &errOut), errOut.String())
	t.Log("\n" + out.String())
	require.Contains(t, out.String(), "Step 7.")
	store, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	recs, err := store.Rewinds(ctx, db)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.True(t, strings.HasSuffix(recs[0].Note, "drill by t"))

	require.NoError(t, ingestTo(p.LedgerEnd()))
	var n int
	require.NoError(t, db.Get(&n, `SELECT count(*) FROM txhistory.ingested_update`))
	require.Equal(t, 50, n)
}

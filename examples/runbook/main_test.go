package main

import (
	"bytes"
	"context"
	"crypto/tls"
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

// restored is a participant restored from a backup after ingestion read
// past it, and the Integration DB that ingestion wrote.
type restored struct {
	p        *ledgertest.Participant
	dsn      string
	db       *sqlx.DB
	stored   []*ledger.Transaction // appended after the backup
	ingestTo func(end int64) error
}

// newRestored starts a participant with opts and a separate admin API;
// ingestion dials its Ledger API with tlsCfg (nil: plaintext).
func newRestored(t *testing.T, tlsCfg *tls.Config, opts ...ledgertest.Option) *restored {
	t.Helper()
	ctx := context.Background()
	p, err := ledgertest.New(append([]ledgertest.Option{ledgertest.WithSeparateAdmin()}, opts...)...)
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
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), TLS: tlsCfg, Insecure: tlsCfg == nil}})
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
	return &restored{p: p, dsn: dsn, db: db, stored: stored, ingestTo: ingestTo}
}

// envOf is a getenv reading m.
func envOf(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

const dryRun = "dry run: would move the checkpoint from offset 40 to"

// The command against a restored fake participant: flags checked, a dry
// run, then -yes, after which ingestion resumes.
func TestRunbookCommand(t *testing.T) {
	ctx := context.Background()
	r := newRestored(t, nil)
	p, dsn, db, stored, ingestTo := r.p, r.dsn, r.db, r.stored, r.ingestTo
	noEnv := envOf(nil)

	base := []string{"-ledger", p.Addr(), "-admin", p.AdminAddr(), "-plaintext", "-dsn", dsn, "-party", treasury, "-poll", "10ms"}
	var out, errOut bytes.Buffer
	require.Equal(t, 2, run([]string{"-ledger", p.Addr()}, noEnv, &out, &errOut), "missing flags")
	require.Contains(t, errOut.String(), "-admin (or $TXHISTORY_ADMIN) is required")
	require.Equal(t, 2, run(append(base, "-mode", "sometimes"), noEnv, &out, &errOut))

	out.Reset()
	require.Equal(t, 0, run(append(base, "-since", stored[0].RecordTime.Format(time.RFC3339Nano)), noEnv, &out, &errOut), errOut.String())
	t.Log("\n" + out.String())
	require.Contains(t, out.String(), dryRun)
	require.Contains(t, out.String(), "1220ee pkg")

	out.Reset()
	require.Equal(t, 0, run(append(base, "-yes", "-note", "drill by t"), noEnv, &out, &errOut), errOut.String())
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

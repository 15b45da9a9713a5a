package recovery_test

import (
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
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

const treasury = "treasury::1220feed"

func TestMain(m *testing.M) { pgtest.Main(m) }

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// bundle is a fake participant with its admin API on its own port, a
// migrated database with an effects table, and a client of both APIs.
type bundle struct {
	p      *ledgertest.Participant
	db     *sqlx.DB
	client *ledger.Client
}

func newBundle(t *testing.T, opts ...ledgertest.Option) *bundle {
	t.Helper()
	p, err := ledgertest.New(append([]ledgertest.Option{ledgertest.WithSeparateAdmin()}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(context.Background(), db))
	_, err = db.Exec(`CREATE TABLE effects (update_id text NOT NULL, ledger_offset bigint NOT NULL, record_time timestamptz NOT NULL, command_id text NOT NULL, contracts text NOT NULL)`)
	require.NoError(t, err)
	c, err := ledger.Dial(ledger.Config{
		LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true},
		Admin:     ledger.Endpoint{Target: p.AdminAddr(), Insecure: true},
	})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &bundle{p: p, db: db, client: c}
}

// effects writes one row per applied transaction, with no unique
// constraint: a transaction applied twice shows as two rows.
var effects = ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
	for _, t := range b.Transactions {
		var cids []string
		for _, e := range t.Events {
			cids = append(cids, e.Contract())
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO effects VALUES ($1, $2, $3, $4, $5)`,
			t.UpdateID, t.Offset, t.RecordTime, t.CommandID, strings.Join(cids, ",")); err != nil {
			return err
		}
	}
	return nil
})

// step is one transaction of a script: the treasury's, or someone else's
// (which the treasury's stream filters out, making offset gaps).
type step struct {
	n     int
	other bool
	// same: record time equal to the previous transaction's.
	same bool
}

// script is n transactions; every seventh belongs to another party. The
// transactions at the indexes in sameAs share the record time of the one
// before them.
func script(n int, sameAs ...int) []step {
	same := map[int]bool{}
	for _, i := range sameAs {
		same[i] = true
	}
	out := make([]step, n)
	for i := range out {
		out[i] = step{n: i + 1, other: (i+1)%7 == 3, same: same[i+1]}
	}
	return out
}

var pkgTest = ledger.MustParseIdentifier("1220a1b2c3d4e5f6:Test.Module:Thing")

// tx builds step s's transaction. Update ids and record times are fixed by
// the step, so two participants fed the same steps hold the same history.
func (s step) tx(prev time.Time) *ledger.Transaction {
	party := treasury
	if s.other {
		party = "other::1220"
	}
	rt := ledgertest.DefaultStartTime.Add(time.Duration(s.n) * time.Millisecond)
	if s.same {
		rt = prev
	}
	return &ledger.Transaction{
		UpdateID:   fmt.Sprintf("tx-%05d", s.n),
		CommandID:  fmt.Sprintf("cmd-%d", s.n),
		RecordTime: rt,
		Events: []ledger.Event{&ledger.CreatedEvent{
			ContractID:      fmt.Sprintf("00cid%06d", s.n),
			TemplateID:      pkgTest,
			PackageName:     "test-pkg",
			CreateArguments: ledger.Record(nil, ledger.F("owner", ledger.Party(party)), ledger.F("n", ledger.Int64(int64(s.n)))),
			WitnessParties:  []string{party},
			Signatories:     []string{party},
		}},
	}
}

// play appends steps to p and returns the stored transactions.
func play(t testing.TB, p *ledgertest.Participant, steps []step) []*ledger.Transaction {
	t.Helper()
	var prev time.Time
	if txs := p.Transactions(); len(txs) > 0 {
		prev = txs[len(txs)-1].RecordTime
	}
	var out []*ledger.Transaction
	for _, s := range steps {
		tx := s.tx(prev)
		stored, err := p.Append(tx)
		require.NoError(t, err)
		out = append(out, stored[0])
		prev = stored[0].RecordTime
	}
	return out
}

func newIngester(t testing.TB, b *bundle, cfg ingest.Config) *ingest.Ingester {
	t.Helper()
	cfg.Parties = []string{treasury}
	cfg.Handler = effects
	cfg.Logger = quietLog
	cfg.MinBackoff, cfg.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	cfg.LedgerEndPoll = 10 * time.Millisecond
	ing, err := ingest.New(b.db, b.client, cfg)
	require.NoError(t, err)
	return ing
}

// ingestTo runs an Ingester until the checkpoint reaches end and returns
// its stats.
func ingestTo(t testing.TB, b *bundle, end int64) ingest.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ing := newIngester(t, b, ingest.Config{EndOffset: end})
	require.NoError(t, ing.Run(ctx))
	return ing.Stats()
}

// ingestErr runs an Ingester to the ledger end and returns its error.
func ingestErr(t testing.TB, b *bundle) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return newIngester(t, b, ingest.Config{EndOffset: b.p.LedgerEnd()}).Run(ctx)
}

// history is what the effects say, without offsets (which a restore changes).
type history struct {
	Rows       []string // update id, record time, command, contracts; in record time order
	Duplicates []string
	Checkpoint checkpoint.Checkpoint // without offsets and UpdatedAt
}

func readHistory(t testing.TB, db *sqlx.DB) history {
	t.Helper()
	var h history
	require.NoError(t, db.Select(&h.Rows, `SELECT update_id || ' ' || to_char(record_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || ' ' || command_id || ' ' || contracts
		FROM effects ORDER BY record_time, update_id`))
	require.NoError(t, db.Select(&h.Duplicates, `SELECT update_id FROM effects GROUP BY update_id HAVING count(*) > 1`))
	store, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	cp, found, err := store.Get(context.Background(), db)
	require.NoError(t, err)
	require.True(t, found)
	cp.Offset, cp.UpdateOffset, cp.UpdatedAt = 0, 0, time.Time{}
	h.Checkpoint = cp
	return h
}

// dbState is everything ingestion writes, offsets included, to show that a
// refused restart changed nothing.
type dbState struct {
	Effects    []string
	Dedup      []string
	Checkpoint checkpoint.Checkpoint
	Times      []string
}

func readState(t testing.TB, db *sqlx.DB) dbState {
	t.Helper()
	var s dbState
	require.NoError(t, db.Select(&s.Effects, `SELECT update_id || '@' || ledger_offset FROM effects ORDER BY ledger_offset, update_id`))
	require.NoError(t, db.Select(&s.Dedup, `SELECT update_id || '@' || ledger_offset FROM txhistory.ingested_update ORDER BY ledger_offset, update_id`))
	require.NoError(t, db.Select(&s.Times, `SELECT synchronizer_id || ' ' || record_time::text || ' ' || ledger_offset FROM txhistory.synchronizer_time ORDER BY 1`))
	store, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	cp, _, err := store.Get(context.Background(), db)
	require.NoError(t, err)
	s.Checkpoint = cp
	return s
}

// reference ingests steps on an undisturbed participant: the history a
// restore must not change.
func reference(t *testing.T, steps []step) history {
	t.Helper()
	ref := newBundle(t)
	play(t, ref.p, steps)
	ingestTo(t, ref, ref.p.LedgerEnd())
	h := readHistory(t, ref.db)
	require.Empty(t, h.Duplicates)
	return h
}

func updateIDs(rows []string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i], _, _ = strings.Cut(r, " ")
	}
	return out
}

// options are Plan options for tests: fast polling, quiet.
func options(mode recovery.Mode) recovery.Options {
	return recovery.Options{Parties: []string{treasury}, Mode: mode, PollInterval: 5 * time.Millisecond, Timeout: 30 * time.Second, Logger: quietLog}
}

// restoredAfter plays steps on b's participant and backs it up after the
// first backupAt of them, ingests up to the transaction lastTx ("" for the
// ledger end), and restores the participant from the backup: a validator
// node restored from a backup older than what the Integration DB holds. It
// returns the backup and the transactions played after it.
func restoredAfter(t testing.TB, b *bundle, steps []step, backupAt int, lastTx string, opts ...ledgertest.RestoreOption) (ledgertest.Snapshot, []*ledger.Transaction) {
	t.Helper()
	play(t, b.p, steps[:backupAt])
	backup := b.p.Backup()
	after := play(t, b.p, steps[backupAt:])
	end := b.p.LedgerEnd()
	if lastTx != "" {
		end = offsetOf(t, b.p, lastTx)
	}
	ingestTo(t, b, end)
	b.p.Restore(backup, opts...)
	return backup, after
}

// otherSynchronizer is the second synchronizer of twoSynchronizerHistory.
const otherSynchronizer = "other-domain::1220bb"

// twoSynchronizerHistory is script(60) with every second transaction on
// otherSynchronizer: tx 53, 55 and 57 share a record time on the default
// synchronizer, and tx 54 and 56, on the other one, lie between them.
func twoSynchronizerHistory() []*ledger.Transaction {
	var txs []*ledger.Transaction
	for i, s := range script(60) {
		tx := s.tx(time.Time{})
		if i%2 == 1 {
			tx.SynchronizerID = otherSynchronizer
		}
		txs = append(txs, tx)
	}
	txs[54].RecordTime, txs[56].RecordTime = txs[52].RecordTime, txs[52].RecordTime
	return txs
}

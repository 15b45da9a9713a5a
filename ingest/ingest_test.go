package ingest_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

const treasury = "treasury::1220feed"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	pgtest.Main(m)
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// testBundle is what most tests need: a fake participant, a migrated
// database, and a client.
type testBundle struct {
	p      *ledgertest.Participant
	db     *sqlx.DB
	dsn    string
	client *ledger.Client
}

func setup(t testing.TB, opts ...ledgertest.Option) *testBundle {
	t.Helper()
	p, err := ledgertest.New(opts...)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	db, dsn := newEffectsDB(t)
	return &testBundle{p: p, db: db, dsn: dsn, client: dial(t, p.Addr(), nil)}
}

// newEffectsDB returns a pool on a new database of the test, migrated and
// with the effects table, and the database's DSN.
func newEffectsDB(t testing.TB) (*sqlx.DB, string) {
	t.Helper()
	dsn := pgtest.NewDSN(t)
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, schema.Migrate(context.Background(), db))
	require.NoError(t, createEffects(db))
	return db, dsn
}

func dial(t testing.TB, addr string, tokens ledger.TokenSource) *ledger.Client {
	t.Helper()
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: addr, Insecure: true, Tokens: tokens}})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// effects is the test handler's table: one row per applied transaction and
// deliberately no unique constraint, so that a transaction applied twice
// shows up as two rows.
func createEffects(db *sqlx.DB) error {
	_, err := db.Exec(`CREATE TABLE effects (update_id text NOT NULL, ledger_offset bigint NOT NULL, events int NOT NULL, record_time timestamptz NOT NULL)`)
	return err
}

var effectsHandler = ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
	for _, t := range b.Transactions {
		if _, err := tx.ExecContext(ctx, `INSERT INTO effects VALUES ($1, $2, $3, $4)`, t.UpdateID, t.Offset, len(t.Events), t.RecordTime); err != nil {
			return err
		}
	}
	return nil
})

// rejecting is effectsHandler, except for a batch holding the transaction
// with update id bad: that batch's HandleBatch is reject's, given bad.
func rejecting(bad string, reject func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch, bad *ledger.Transaction) error) ingest.Handler {
	return ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
		for _, t := range b.Transactions {
			if t.UpdateID == bad {
				return reject(ctx, tx, b, t)
			}
		}
		return effectsHandler(ctx, tx, b)
	})
}

// cannotApply rejects the transaction with an error naming it.
func cannotApply(_ context.Context, _ *sqlx.Tx, _ *ingest.Batch, t *ledger.Transaction) error {
	return fmt.Errorf("handler cannot apply update %s", t.UpdateID)
}

// simpleTx is a transaction with one created event visible to party.
func simpleTx(party string, n int) *ledger.Transaction {
	return &ledger.Transaction{
		CommandID: fmt.Sprintf("cmd-%d", n),
		Events: []ledger.Event{&ledger.CreatedEvent{
			NodeID:     0,
			ContractID: fmt.Sprintf("00cid%06d", n),
			TemplateID: ledger.MustParseIdentifier("#test-pkg:Test.Module:Thing"),
			CreateArguments: ledger.Record(nil,
				ledger.F("owner", ledger.Party(party)),
				ledger.F("n", ledger.Int64(int64(n))),
			),
			WitnessParties: []string{party},
			Signatories:    []string{party},
		}},
	}
}

// malformedTx is a treasury transaction whose create arguments are nested
// deeper than the client decodes (100 levels): a poison transaction.
func malformedTx(n int) *ledger.Transaction {
	deep := ledger.Int64(1)
	for range 150 {
		deep = ledger.List(deep)
	}
	tx := simpleTx(treasury, n)
	tx.Events[0].(*ledger.CreatedEvent).CreateArguments = ledger.Record(nil, ledger.F("deep", deep))
	return tx
}

// requireNamesTransaction requires err to name the transaction with its
// update id and its offset together ("<update id> at offset <offset>", as
// the Ingester and ledger.DecodeError write them). The fake participant's
// update ids are "upd-<offset>": an offset looked for alone is always
// found in the update id.
func requireNamesTransaction(t testing.TB, err error, updateID string, offset int64) {
	t.Helper()
	require.Error(t, err)
	require.ErrorContains(t, err, fmt.Sprintf("%s at offset %d", updateID, offset))
}

// appendAroundMalformed appends n transactions by appendN, a malformed one
// (malformedTx(tag)), then n more, and returns the malformed one as stored.
func appendAroundMalformed(t testing.TB, p *ledgertest.Participant, n, tag int) *ledger.Transaction {
	t.Helper()
	appendN(t, p, 0, n)
	stored, err := p.Append(malformedTx(tag))
	require.NoError(t, err)
	appendN(t, p, n, n)
	return stored[0]
}

func appendN(t testing.TB, p *ledgertest.Participant, from, n int) {
	t.Helper()
	txs := make([]*ledger.Transaction, 0, n)
	for i := from; i < from+n; i++ {
		if i%7 == 3 {
			// Someone else's transaction: makes gaps in the treasury's offsets.
			txs = append(txs, simpleTx("other::1220", i))
			continue
		}
		txs = append(txs, simpleTx(treasury, i))
	}
	_, err := p.Append(txs...)
	require.NoError(t, err)
}

func newIngester(t testing.TB, b *testBundle, cfg ingest.Config) *ingest.Ingester {
	t.Helper()
	if cfg.Parties == nil {
		cfg.Parties = []string{treasury}
	}
	if cfg.Handler == nil {
		cfg.Handler = effectsHandler
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLog
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	}
	ing, err := ingest.New(b.db, b.client, cfg)
	require.NoError(t, err)
	return ing
}

func runToEnd(t testing.TB, b *testBundle, cfg ingest.Config) {
	t.Helper()
	cfg.EndOffset = b.p.LedgerEnd()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, newIngester(t, b, cfg).Run(ctx))
}

func treasuryTxs(p *ledgertest.Participant) []*ledger.Transaction {
	var out []*ledger.Transaction
	for _, tx := range p.Transactions() {
		for _, e := range tx.Events {
			if c, ok := e.(*ledger.CreatedEvent); ok && len(c.WitnessParties) > 0 && c.WitnessParties[0] == treasury {
				out = append(out, tx)
				break
			}
		}
	}
	return out
}

type dbState struct {
	Effects    []string // update_id@offset, in offset order
	Ingested   int
	Checkpoint checkpoint.Checkpoint
}

func readState(t testing.TB, db *sqlx.DB) dbState {
	t.Helper()
	var s dbState
	require.NoError(t, db.Select(&s.Effects, `SELECT update_id || '@' || ledger_offset FROM effects ORDER BY ledger_offset, update_id`))
	require.NoError(t, db.Get(&s.Ingested, `SELECT count(*) FROM txhistory.ingested_update`))
	store, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	cp, found, err := store.Get(context.Background(), db)
	require.NoError(t, err)
	require.True(t, found)
	cp.UpdatedAt = time.Time{}
	s.Checkpoint = cp
	return s
}

func requireAllOnce(t testing.TB, b *testBundle) {
	t.Helper()
	want := treasuryTxs(b.p)
	var dup []string
	require.NoError(t, b.db.Select(&dup, `SELECT update_id FROM effects GROUP BY update_id HAVING count(*) > 1`))
	require.Empty(t, dup, "transactions applied more than once")
	var got []string
	require.NoError(t, b.db.Select(&got, `SELECT update_id FROM effects ORDER BY ledger_offset`))
	require.Len(t, got, len(want))
	for i, tx := range want {
		require.Equal(t, tx.UpdateID, got[i])
	}
}

func TestIngestAllThenResume(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 300)
	runToEnd(t, b, ingest.Config{MaxBatchSize: 37})
	requireAllOnce(t, b)
	st := readState(t, b.db)
	require.Equal(t, b.p.LedgerEnd(), st.Checkpoint.Offset)
	last := treasuryTxs(b.p)[len(treasuryTxs(b.p))-1]
	require.Equal(t, last.UpdateID, st.Checkpoint.UpdateID)
	require.True(t, last.RecordTime.Equal(st.Checkpoint.RecordTime))
	require.Equal(t, last.SynchronizerID, st.Checkpoint.SynchronizerID)

	// More history, a new Ingester: it resumes where the first one stopped.
	appendN(t, b.p, 300, 100)
	before := len(b.p.Requests())
	runToEnd(t, b, ingest.Config{})
	requireAllOnce(t, b)
	reqs := b.p.Requests()[before:]
	require.NotEmpty(t, reqs)
	require.Equal(t, st.Checkpoint.Offset, reqs[0].GetBeginExclusive(), "resumes from the stored checkpoint")
}

// The request the client sends is the one the exchange integration guide
// asks for: ledger effects, verbose, the treasury party with a wildcard and
// the token standard interface views, from the stored checkpoint.
func TestGetUpdatesRequestShape(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 20)
	runToEnd(t, b, ingest.Config{})
	stored := readState(t, b.db).Checkpoint.Offset

	appendN(t, b.p, 20, 5)
	before := len(b.p.Requests())
	runToEnd(t, b, ingest.Config{})
	req := b.p.Requests()[before]
	require.Equal(t, stored, req.GetBeginExclusive())
	require.Equal(t, b.p.LedgerEnd(), req.GetEndInclusive())
	tf := req.GetUpdateFormat().GetIncludeTransactions()
	require.Equal(t, lapiv2.TransactionShape_TRANSACTION_SHAPE_LEDGER_EFFECTS, tf.GetTransactionShape())
	require.True(t, tf.GetEventFormat().GetVerbose())
	require.Nil(t, tf.GetEventFormat().GetFiltersForAnyParty())
	byParty := tf.GetEventFormat().GetFiltersByParty()
	require.Len(t, byParty, 1)
	cum := byParty[treasury].GetCumulative()
	require.NotNil(t, cum[0].GetWildcardFilter())
	var ifaces []string
	for _, c := range cum[1:] {
		f := c.GetInterfaceFilter()
		require.NotNil(t, f)
		require.True(t, f.GetIncludeInterfaceView())
		ifaces = append(ifaces, ledger.IdentifierFromProto(f.GetInterfaceId()).String())
	}
	require.ElementsMatch(t, []string{
		"#splice-api-token-holding-v1:Splice.Api.Token.HoldingV1:Holding",
		"#splice-api-token-transfer-instruction-v1:Splice.Api.Token.TransferInstructionV1:TransferInstruction",
		"#splice-api-token-transfer-instruction-v1:Splice.Api.Token.TransferInstructionV1:TransferFactory",
	}, ifaces)
}

// Faults on the way: the stream drops every 40 items and the first
// reconnects fail with UNAVAILABLE. The database ends exactly as after an
// undisturbed run.
func TestFaultsEqualUndisturbedRun(t *testing.T) {
	faulty := requireSameAsUndisturbed(t, 500, func(p *ledgertest.Participant) {
		p.DropStreamsAfter(40)
		p.FailNext("GetUpdates", 3, codes.Unavailable)
	})
	require.Greater(t, faulty.p.Calls("GetUpdates"), 12, "the faults forced reconnects")
}

// requireSameAsUndisturbed ingests n transactions twice, into two
// databases from two participants, the second disturbed by disturb before
// its run, and requires both databases to end the same, each transaction
// applied once. It returns the disturbed bundle.
func requireSameAsUndisturbed(t *testing.T, n int, disturb func(p *ledgertest.Participant)) *testBundle {
	t.Helper()
	clean := setup(t)
	faulty := setup(t)
	for _, b := range []*testBundle{clean, faulty} {
		appendN(t, b.p, 0, n)
	}
	runToEnd(t, clean, ingest.Config{MaxBatchSize: 25})

	disturb(faulty.p)
	runToEnd(t, faulty, ingest.Config{MaxBatchSize: 25})

	want, got := readState(t, clean.db), readState(t, faulty.db)
	require.Equal(t, want.Effects, got.Effects)
	require.Equal(t, want.Ingested, got.Ingested)
	require.Equal(t, want.Checkpoint, got.Checkpoint)
	requireAllOnce(t, faulty)
	return faulty
}

// rewindToStart rewinds b's checkpoint from offset from to the start of
// the ledger, to just before its first transaction's record time: the next
// run replays everything.
func rewindToStart(t testing.TB, b *testBundle, from int64) {
	t.Helper()
	store, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	tx := b.db.MustBegin()
	first := b.p.Transactions()[0]
	require.NoError(t, store.RewindTx(context.Background(), tx, checkpoint.Rewind{
		From: from, To: 0, Mode: "test",
		SynchronizerID: first.SynchronizerID, RecoveryTime: first.RecordTime.Add(-time.Microsecond),
	}))
	require.NoError(t, tx.Commit())
}

// Replaying a range that was already ingested (a rewound checkpoint) applies
// nothing twice: update-id dedup drops every transaction.
func TestReplayIsDeduplicated(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 100)
	runToEnd(t, b, ingest.Config{})
	before := readState(t, b.db)

	rewindToStart(t, b, before.Checkpoint.Offset)

	ing := newIngester(t, b, ingest.Config{EndOffset: b.p.LedgerEnd()})
	require.NoError(t, ing.Run(context.Background()))
	require.Equal(t, int64(0), ing.Stats().Transactions)
	require.Equal(t, int64(len(treasuryTxs(b.p))), ing.Stats().Skipped)
	after := readState(t, b.db)
	require.Equal(t, before.Effects, after.Effects)
	require.Equal(t, before.Checkpoint.Offset, after.Checkpoint.Offset)
}

func TestPrunedBeginOffsetNamesEarliest(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 50)
	b.p.Prune(30)
	ing := newIngester(t, b, ingest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := ing.Run(ctx)
	require.Error(t, err)
	require.ErrorIs(t, err, ledger.ErrPruned)
	var pe *ledger.PrunedError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, int64(30), pe.EarliestOffset)
	require.Contains(t, err.Error(), "earliest available begin offset is 30")
	require.Equal(t, 1, b.p.Calls("GetUpdates"), "a pruned offset is not retried")
}

// A participant whose certificate the client does not trust stops Run at
// once with ErrTLS, instead of being retried as if it were down; with the
// right configuration the same database ingests everything.
func TestTLSRefusalIsNotRetried(t *testing.T) {
	certs, err := ledgertest.NewCerts("ingester")
	require.NoError(t, err)
	b := setup(t, ledgertest.WithTLS(certs.ServerConfig(false)))
	appendN(t, b.p, 0, 10)
	dialWith := func(cfg *tls.Config) *ledger.Client {
		c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: b.p.Addr(), TLS: cfg}})
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	b.client = dialWith(&tls.Config{}) // the system roots do not know the test CA
	ing := newIngester(t, b, ingest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = ing.Run(ctx)
	require.ErrorIs(t, err, ledger.ErrTLS)
	require.ErrorContains(t, err, "certificate signed by unknown authority")
	require.NoError(t, ctx.Err(), "Run returned before the deadline, without retrying")
	require.Equal(t, map[string]int64{"auth": 1}, ing.Stats().Errors)

	b.client = dialWith(certs.ClientConfig(false))
	runToEnd(t, b, ingest.Config{})
	requireAllOnce(t, b)
}

func TestAuthFailureIsNotRetried(t *testing.T) {
	b := setup(t, ledgertest.WithToken("the-right-token"))
	appendN(t, b.p, 0, 10)
	b.client = dial(t, b.p.Addr(), ledger.StaticToken("a-wrong-token"))
	ing := newIngester(t, b, ingest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := ing.Run(ctx)
	require.ErrorIs(t, err, ledger.ErrUnauthenticated)
	require.True(t, ledger.IsAuth(err))
	require.Equal(t, 1, b.p.Calls("GetUpdates"))
	require.NotContains(t, err.Error(), "a-wrong-token")
	require.NotContains(t, err.Error(), "the-right-token")

	// With the right token, the same database ingests everything.
	b.client = dial(t, b.p.Addr(), ledger.StaticToken("the-right-token"))
	runToEnd(t, b, ingest.Config{})
	requireAllOnce(t, b)
}

// A begin offset beyond the ledger end (a participant that is behind) is
// waited for, not an error.
func TestWaitsWhileBeyondLedgerEnd(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ing := newIngester(t, b, ingest.Config{StartOffset: 20, EndOffset: 40, LedgerEndPoll: 20 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Errors["stream"] >= 2 }, 10*time.Second, 5*time.Millisecond)
	appendN(t, b.p, 10, 40)
	require.NoError(t, <-done)
	st := readState(t, b.db)
	require.Equal(t, int64(40), st.Checkpoint.Offset)
	var first int64
	require.NoError(t, b.db.Get(&first, `SELECT min(ledger_offset) FROM effects`))
	require.Greater(t, first, int64(20))
}

// Tailing: new transactions and OffsetCheckpoints keep arriving; Stop
// commits what was received and returns nil.
func TestTailingAndGracefulStop(t *testing.T) {
	b := setup(t, ledgertest.WithCheckpointInterval(10*time.Millisecond))
	appendN(t, b.p, 0, 30)
	ing := newIngester(t, b, ingest.Config{})
	done := make(chan error, 1)
	go func() { done <- ing.Run(context.Background()) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
	appendN(t, b.p, 30, 30)
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)

	// Time passes on the synchronizer with nothing for the treasury: the
	// checkpoint's record time still moves (that is what expiry relies on).
	later := b.p.Transactions()[len(b.p.Transactions())-1].RecordTime.Add(time.Minute)
	b.p.AdvanceTime(b.p.Transactions()[0].SynchronizerID, later)
	require.Eventually(t, func() bool {
		return !ing.Stats().RecordTimes[b.p.Transactions()[0].SynchronizerID].Before(later)
	}, 10*time.Second, 5*time.Millisecond)
	ing.Stop()
	require.NoError(t, <-done)
	requireAllOnce(t, b)
	st := readState(t, b.db)
	require.True(t, st.Checkpoint.RecordTimes[b.p.Transactions()[0].SynchronizerID].Equal(later))
}

// A handler error aborts the batch: nothing of it is committed, and Run
// returns the error naming the offsets.
func TestHandlerErrorCommitsNothing(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 40)
	bad := treasuryTxs(b.p)[25]
	h := rejecting(bad.UpdateID, func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch, t *ledger.Transaction) error {
		if err := effectsHandler(ctx, tx, batch); err != nil { // written, then rolled back
			return err
		}
		return fmt.Errorf("cannot parse update %s at offset %d", t.UpdateID, t.Offset)
	})
	ing := newIngester(t, b, ingest.Config{Handler: h, MaxBatchSize: 10, EndOffset: b.p.LedgerEnd()})
	err := ing.Run(context.Background())
	require.Error(t, err)
	// The handler's own message names the update and its offset: what the
	// Ingester adds is checked, the batch's offsets.
	m := regexp.MustCompile(`handler failed on transaction ` + regexp.QuoteMeta(bad.UpdateID) +
		fmt.Sprintf(` at offset %d `, bad.Offset) + `\(batch offsets (\d+)\.\.(\d+)\): cannot parse update`).FindStringSubmatch(err.Error())
	require.NotNil(t, m, "the error does not name the transaction and its batch's offsets: %v", err)
	from, _ := strconv.ParseInt(m[1], 10, 64)
	to, _ := strconv.ParseInt(m[2], 10, 64)
	st := readState(t, b.db)
	require.Less(t, st.Checkpoint.Offset, bad.Offset)
	require.Equal(t, st.Checkpoint.Offset, from, "the failed batch starts at the checkpoint")
	require.True(t, from < bad.Offset && bad.Offset <= to, "batch offsets %d..%d do not hold offset %d", from, to, bad.Offset)
	for _, e := range st.Effects {
		require.NotContains(t, e, bad.UpdateID+"@")
	}
	var n int
	require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM txhistory.ingested_update WHERE ledger_offset > $1`, st.Checkpoint.Offset))
	require.Zero(t, n, "dedup rows of the failed batch were rolled back")
}

// A record time that goes backwards on a synchronizer means the participant
// was restored from a backup; ingestion stops and writes nothing.
func TestRecordTimeBackwardsStops(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 20)
	runToEnd(t, b, ingest.Config{})
	before := readState(t, b.db)

	// Pretend the checkpoint saw a much later record time than the ledger has.
	_, err := b.db.Exec(`UPDATE txhistory.synchronizer_time SET record_time = record_time + interval '1 day'`)
	require.NoError(t, err)
	before = readState(t, b.db)
	appendN(t, b.p, 20, 5)
	ing := newIngester(t, b, ingest.Config{EndOffset: b.p.LedgerEnd()})
	err = ing.Run(context.Background())
	require.ErrorIs(t, err, ingest.ErrParticipantRestored)
	require.Equal(t, before, readState(t, b.db))
}

func TestConfigValidation(t *testing.T) {
	b := setup(t)
	_, err := ingest.New(b.db, b.client, ingest.Config{})
	require.ErrorContains(t, err, "Parties")
	_, err = ingest.New(b.db, b.client, ingest.Config{Parties: []string{treasury}, Schema: "bad;schema"})
	require.Error(t, err)
	_, err = ingest.New(b.db, b.client, ingest.Config{Parties: []string{treasury}, StartOffset: -1})
	require.Error(t, err)
	// A bounded catch-up ending before it starts would ingest nothing and
	// return nil: a configuration error.
	_, err = ingest.New(b.db, b.client, ingest.Config{Parties: []string{treasury}, Handler: effectsHandler, StartOffset: 10, EndOffset: 9})
	require.ErrorContains(t, err, "EndOffset 9 is before StartOffset 10")
	_, err = ingest.New(b.db, b.client, ingest.Config{Parties: []string{treasury}, Handler: effectsHandler, StartOffset: 10, EndOffset: 10})
	require.NoError(t, err)
	// An interface id missing a part is refused by the participant at the
	// first stream; New refuses it, naming it.
	for _, id := range []ledger.Identifier{{ModuleName: "Splice.Api.Token.HoldingV1", EntityName: "Holding"}, {PackageID: "#", ModuleName: "M", EntityName: "E"},
		{PackageID: "#splice-api-token-holding-v1", EntityName: "Holding"}, {PackageID: "#splice-api-token-holding-v1", ModuleName: "Splice.Api.Token.HoldingV1"}} {
		_, err = ingest.New(b.db, b.client, ingest.Config{Parties: []string{treasury}, Handler: effectsHandler, Interfaces: []ledger.Identifier{id}})
		require.ErrorContains(t, err, "Config.Interfaces holds", "%+v", id)
	}
	_, err = ingest.New(b.db, b.client, ingest.Config{Parties: []string{treasury}, Handler: effectsHandler, Interfaces: ledger.TokenStandardInterfaces()})
	require.NoError(t, err)
}

func TestMalformedUpdateNamesOffsetAndUpdateID(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 5)
	bad := malformedTx(99)
	stored, err := b.p.Append(bad)
	require.NoError(t, err)
	ing := newIngester(t, b, ingest.Config{EndOffset: b.p.LedgerEnd()})
	err = ing.Run(context.Background())
	require.Error(t, err)
	var de *ledger.DecodeError
	require.True(t, errors.As(err, &de), "got %v", err)
	require.Equal(t, stored[0].Offset, de.Offset)
	require.Equal(t, stored[0].UpdateID, de.UpdateID)
	require.Contains(t, err.Error(), stored[0].UpdateID)
	// Everything before it was committed.
	require.Equal(t, stored[0].Offset-1, readState(t, b.db).Checkpoint.Offset)
}

// Exactly one active ingester per schema: a second one fails at once under
// LockFail, and under LockWait takes over when the first stops.
func TestSecondIngesterWaitsOrFails(t *testing.T) {
	b := setup(t, ledgertest.WithCheckpointInterval(10*time.Millisecond))
	appendN(t, b.p, 0, 20)
	first := newIngester(t, b, ingest.Config{})
	done1 := make(chan error, 1)
	go func() { done1 <- first.Run(context.Background()) }()
	require.Eventually(t, func() bool { return first.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)

	err := newIngester(t, b, ingest.Config{Lock: ingest.LockFail}).Run(context.Background())
	require.ErrorIs(t, err, ingest.ErrAnotherIngester)

	second := newIngester(t, b, ingest.Config{LockPoll: 10 * time.Millisecond})
	done2 := make(chan error, 1)
	go func() { done2 <- second.Run(context.Background()) }()
	appendN(t, b.p, 20, 10)
	require.Eventually(t, func() bool { return first.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
	require.Zero(t, second.Stats().Batches, "the waiting ingester writes nothing")
	require.Eventually(t, func() bool { return second.Stats().State == ingest.StateWaitingForLock }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, ingest.StateStreaming, first.Stats().State)

	first.Stop()
	require.NoError(t, <-done1)
	appendN(t, b.p, 30, 10)
	require.Eventually(t, func() bool { return second.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
	second.Stop()
	require.NoError(t, <-done2)
	require.Equal(t, ingest.StateStopped, second.Stats().State)
	requireAllOnce(t, b)
}

// The connection holding the lock can go away while the other connections
// stay (an administrator's pg_terminate_backend, an idle timeout): a running
// Ingester notices within Config.LockCheck, takes the lock again and goes
// on, and a second ingester waiting for the lock gets it only if it is
// first, never beside it.
func TestLostLockConnectionIsTakenAgain(t *testing.T) {
	ctx := context.Background()
	b := setup(t, ledgertest.WithCheckpointInterval(10*time.Millisecond))
	appendN(t, b.p, 0, 20)
	// takeOver terminates the backend holding the lock and waits until
	// another one holds it.
	takeOver := func(msg string) {
		t.Helper()
		killed := killLockHolder(t, b.db)
		require.Eventually(t, func() bool {
			h := lockHolders(t, b.db)
			return len(h) == 1 && h[0] != killed
		}, 10*time.Second, 5*time.Millisecond, msg)
	}
	first := newIngester(t, b, ingest.Config{LockCheck: 20 * time.Millisecond, LockPoll: 10 * time.Millisecond})
	done1 := make(chan error, 1)
	go func() { done1 <- first.Run(ctx) }()
	require.Eventually(t, func() bool { return first.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)

	takeOver("the lock is taken again")
	require.Eventually(t, func() bool { return first.Stats().Errors["database"] >= 1 }, 10*time.Second, 5*time.Millisecond)
	appendN(t, b.p, 20, 10)
	require.Eventually(t, func() bool { return first.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)

	// Again, with a second ingester waiting for the lock: whichever takes
	// it, the other waits, and the two never hold it together.
	second := newIngester(t, b, ingest.Config{LockCheck: 20 * time.Millisecond, LockPoll: 10 * time.Millisecond})
	done2 := make(chan error, 1)
	go func() { done2 <- second.Run(ctx) }()
	require.Eventually(t, func() bool { return second.Stats().State == ingest.StateWaitingForLock }, 10*time.Second, 5*time.Millisecond)
	takeOver("one of the two takes the lock")
	waiting := func() bool {
		return first.Stats().State == ingest.StateWaitingForLock || second.Stats().State == ingest.StateWaitingForLock
	}
	require.Eventually(t, waiting, 10*time.Second, 5*time.Millisecond, "the other waits")
	appendN(t, b.p, 30, 10)
	require.Eventually(t, func() bool {
		return max(first.Stats().Offset, second.Stats().Offset) == b.p.LedgerEnd()
	}, 10*time.Second, 5*time.Millisecond)
	require.Len(t, lockHolders(t, b.db), 1, "first: %+v; second: %+v", first.Stats(), second.Stats())
	first.Stop()
	second.Stop()
	require.NoError(t, <-done1)
	require.NoError(t, <-done2)
	requireAllOnce(t, b)
}

// lockHolders returns the backends holding the ingestion lock of db's
// database (the lock is per database and schema; other tests' databases
// share the server).
func lockHolders(t testing.TB, db *sqlx.DB) []int {
	t.Helper()
	var pids []int
	require.NoError(t, db.Select(&pids, `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND classid = $1 AND objsubid = 2
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY pid`, 0x74786967))
	return pids
}

// killLockHolder terminates the one backend holding the ingestion lock of
// db's database and returns its pid.
func killLockHolder(t testing.TB, db *sqlx.DB) int {
	t.Helper()
	held := lockHolders(t, db)
	require.Len(t, held, 1)
	terminate(t, db, held[0])
	return held[0]
}

// terminate ends a backend, as an administrator's pg_terminate_backend.
func terminate(t testing.TB, db *sqlx.DB, pid int) {
	t.Helper()
	var ok bool
	require.NoError(t, db.Get(&ok, `SELECT pg_terminate_backend($1)`, pid))
	require.True(t, ok)
}

// gatedHandler is effectsHandler, but its Prepare holds up every
// transaction after offset after until gate closes, so that the Ingester
// receives them only then.
type gatedHandler struct {
	gate  <-chan struct{}
	after int64
}

func (g gatedHandler) Prepare(t *ledger.Transaction) any {
	if t.Offset > g.after {
		<-g.gate
	}
	return nil
}

func (g gatedHandler) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
	return effectsHandler.HandleBatch(ctx, tx, b)
}

// Between two checks of the lock (here never), another ingester can take
// the lock the first lost and move the checkpoint. The first's next commit
// then meets a checkpoint that is not where it left it: it goes back to
// waiting for the lock instead of failing, and nothing is applied twice.
func TestConflictAfterLostLockWaitsForTheLock(t *testing.T) {
	ctx := context.Background()
	b := setup(t, ledgertest.WithCheckpointInterval(10*time.Millisecond))
	appendN(t, b.p, 0, 20)
	gate := make(chan struct{})
	var opened sync.Once
	open := func() { opened.Do(func() { close(gate) }) }
	t.Cleanup(open)
	h := gatedHandler{gate: gate, after: b.p.LedgerEnd()}
	first, done1, _ := runThenKillLock(ctx, t, b, ingest.Config{Handler: h, LockCheck: -1, LockPoll: 10 * time.Millisecond})

	second := newIngester(t, b, ingest.Config{LockPoll: 10 * time.Millisecond})
	done2 := make(chan error, 1)
	go func() { done2 <- second.Run(ctx) }()
	appendN(t, b.p, 20, 10)
	require.Eventually(t, func() bool { return second.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
	second.Stop()
	require.NoError(t, <-done2)
	require.Less(t, first.Stats().Offset, b.p.LedgerEnd(), "the first has not committed the new transactions")

	open() // the first now gets them too, and commits on a checkpoint that moved
	require.Eventually(t, func() bool { return first.Stats().Errors["database"] >= 1 }, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return len(lockHolders(t, b.db)) == 1 }, 10*time.Second, 5*time.Millisecond, "the first takes the lock again")
	appendN(t, b.p, 30, 10)
	require.Eventually(t, func() bool { return first.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
	first.Stop()
	require.NoError(t, <-done1)
	requireAllOnce(t, b)
}

// runThenKillLock runs an Ingester with cfg until it has ingested up to the
// ledger end, then terminates the backend holding its lock, which (with
// LockCheck negative) it does not notice while its stream lasts. It returns
// the Ingester, where its Run's result arrives, and the terminated pid.
func runThenKillLock(ctx context.Context, t *testing.T, b *testBundle, cfg ingest.Config) (*ingest.Ingester, <-chan error, int) {
	t.Helper()
	ing := newIngester(t, b, cfg)
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
	return ing, done, killLockHolder(t, b.db)
}

// The other side of TestConflictAfterLostLockWaitsForTheLock: the ingester
// that took the lock meets, at its commit, a checkpoint moved by the one
// that lost it and has not noticed yet. It holds the lock, so it reloads the
// checkpoint and resumes from there instead of failing with
// checkpoint.ErrConflict (and letting the lock go).
func TestConflictWhileHoldingTheLockResumes(t *testing.T) {
	ctx := context.Background()
	b := setup(t, ledgertest.WithCheckpointInterval(10*time.Millisecond))
	appendN(t, b.p, 0, 20)
	first, done1, killed := runThenKillLock(ctx, t, b, ingest.Config{LockCheck: -1, LockPoll: 10 * time.Millisecond})

	gate := make(chan struct{})
	var opened sync.Once
	open := func() { opened.Do(func() { close(gate) }) }
	t.Cleanup(open)
	second := newIngester(t, b, ingest.Config{Handler: gatedHandler{gate: gate, after: b.p.LedgerEnd()}, LockPoll: 10 * time.Millisecond})
	done2 := make(chan error, 1)
	go func() { done2 <- second.Run(ctx) }()
	require.Eventually(t, func() bool {
		h := lockHolders(t, b.db)
		return len(h) == 1 && h[0] != killed && second.Stats().State == ingest.StateStreaming
	}, 10*time.Second, 5*time.Millisecond, "the second takes the lock and streams from the checkpoint")
	taken := lockHolders(t, b.db)[0]

	appendN(t, b.p, 20, 10)
	require.Eventually(t, func() bool { return first.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond,
		"the first, which has not noticed it lost the lock, commits the new transactions")
	open() // the second gets them now, and commits on a checkpoint that moved
	require.Eventually(t, func() bool { return second.Stats().Errors["database"] >= 1 }, 10*time.Second, 5*time.Millisecond)
	first.Stop()
	require.NoError(t, <-done1)

	appendN(t, b.p, 30, 10)
	require.Eventually(t, func() bool { return second.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, []int{taken}, lockHolders(t, b.db), "the second kept the lock throughout")
	second.Stop()
	require.NoError(t, <-done2)
	requireAllOnce(t, b)
}

// Poison transactions: by default ingestion halts on them (see
// TestHandlerErrorCommitsNothing and TestMalformedUpdateNamesOffsetAndUpdateID);
// with PoisonSetAside they go to the review table and the rest is ingested.
func TestPoisonSetAside(t *testing.T) {
	b := setup(t)
	malformed := appendAroundMalformed(t, b.p, 30, 1000)
	rejected := treasuryTxs(b.p)[40]

	h := rejecting(rejected.UpdateID, cannotApply)
	ing := newIngester(t, b, ingest.Config{Handler: h, Poison: ingest.PoisonSetAside, MaxBatchSize: 16, EndOffset: b.p.LedgerEnd()})
	require.NoError(t, ing.Run(context.Background()))

	aside, err := ing.SetAsideTransactions(context.Background())
	require.NoError(t, err)
	require.Len(t, aside, 2)
	byID := map[string]ingest.SetAsideRecord{}
	for _, a := range aside {
		byID[a.UpdateID] = a
	}
	require.Contains(t, byID, malformed.UpdateID)
	require.Equal(t, malformed.Offset, byID[malformed.UpdateID].Offset)
	require.Contains(t, byID[malformed.UpdateID].Error, "nested deeper")
	require.Contains(t, string(byID[malformed.UpdateID].Raw), malformed.UpdateID, "the raw transaction is kept")
	require.Contains(t, byID, rejected.UpdateID)
	require.Contains(t, byID[rejected.UpdateID].Error, "handler cannot apply")

	// An operator resolves one; it is no longer listed, and not twice.
	require.ErrorContains(t, ing.ResolveSetAside(context.Background(), rejected.UpdateID, " "), "resolution is empty")
	require.NoError(t, ing.ResolveSetAside(context.Background(), rejected.UpdateID, "applied by hand"))
	require.ErrorIs(t, ing.ResolveSetAside(context.Background(), rejected.UpdateID, "again"), ingest.ErrNotSetAside)
	require.ErrorIs(t, ing.ResolveSetAside(context.Background(), "no-such-update", "x"), ingest.ErrNotSetAside)
	left, err := ing.SetAsideTransactions(context.Background())
	require.NoError(t, err)
	require.Len(t, left, 1)
	require.Equal(t, malformed.UpdateID, left[0].UpdateID)
	var resolution string
	require.NoError(t, b.db.Get(&resolution, `SELECT resolution FROM txhistory.review_transaction WHERE update_id = $1`, rejected.UpdateID))
	require.Equal(t, "applied by hand", resolution)

	var got []string
	require.NoError(t, b.db.Select(&got, `SELECT update_id FROM effects ORDER BY ledger_offset`))
	var want []string
	for _, tx := range treasuryTxs(b.p) {
		if tx.UpdateID != rejected.UpdateID && tx.UpdateID != malformed.UpdateID {
			want = append(want, tx.UpdateID)
		}
	}
	require.Equal(t, want, got)
	require.Equal(t, b.p.LedgerEnd(), readState(t, b.db).Checkpoint.Offset)
	require.Equal(t, int64(2), ing.Stats().SetAside)
}

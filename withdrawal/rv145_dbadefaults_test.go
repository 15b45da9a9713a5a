package withdrawal_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// dbaDefaultsDB returns a pool on a new database whose sessions start with
// the given settings, as a DBA sets them (ALTER DATABASE … SET) or, with
// inDSN, as the DSN's options parameter gives them: the pool opens its
// sessions after the settings are made. It also returns the migration
// job's pool, with the same settings but statement_timeout off in its DSN,
// as OPERATIONS.md says to run the migration job: under a short one a
// migration's statement, or the exchange's own DDL, fails with 57014 on a
// loaded machine, which is no finding.
func dbaDefaultsDB(t *testing.T, settings map[string]string, inDSN bool) (db, job *sqlx.DB) {
	t.Helper()
	dsn := pgtest.NewDSN(t)
	admin, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	var options []string
	for name, value := range settings {
		if inDSN {
			options = append(options, "-c "+name+"="+strings.ReplaceAll(strings.ReplaceAll(value, `\`, `\\`), " ", `\ `))
			continue
		}
		_, err := admin.Exec(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET ` + name + ` = %L', current_database(), '` + value + `'); END $$`)
		require.NoError(t, err, name)
	}
	require.NoError(t, admin.Close())
	jobDSN := dsn + "&options=" + url.QueryEscape(strings.Join(append(options, "-c statement_timeout=0"), " "))
	if len(options) > 0 {
		dsn += "&options=" + url.QueryEscape(strings.Join(options, " "))
	}
	db, err = sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	for name, value := range settings {
		var got string
		again(t, "reading "+name, func() error { return db.Get(&got, `SELECT current_setting($1)`, name) })
		t.Logf("%s = %s (set %s)", name, got, value)
	}
	job, err = sqlx.Open("postgres", jobDSN)
	require.NoError(t, err)
	t.Cleanup(func() { _ = job.Close() })
	var got string
	require.NoError(t, job.Get(&got, `SELECT current_setting('statement_timeout')`))
	require.Equal(t, "0", got, "the migration job's statement_timeout")
	return db, job
}

// dbaWorkload runs the integration on db, after the migration job (job)
// made the tables: deposits, withdrawals submitted by the Automation and
// executed on the ledger with a fee, a Stop and a second Run of the
// Ingester, then the reads; it checks that nothing was lost or doubled.
func dbaWorkload(t *testing.T, db, job *sqlx.DB, schemaName string) {
	t.Helper()
	// newLive's set-up, with the exchange's table made in a transaction:
	// lib/pq begins every transaction READ WRITE, whatever the session's
	// default, but a statement outside one follows it.
	tx, err := job.Beginx()
	require.NoError(t, err)
	_, err = tx.Exec(`CREATE TABLE public.refund (
		withdrawal_id text PRIMARY KEY, account text NOT NULL, amount numeric NOT NULL, status text NOT NULL)`)
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	require.NoError(t, schema.Migrate(ctx, job, schema.WithSchema(schemaName)))
	pause := idlePause(t, ctx, db)
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(10 * time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	store, err := withdrawal.NewStore(db, withdrawal.Config{Schema: schemaName, Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	cps, err := checkpoint.NewStore(schemaName)
	require.NoError(t, err)
	l := &live{t: t, ctx: ctx, db: db, p: p, client: client, world: &ledgertest.TokenWorld{}, store: store, cps: cps}
	t.Cleanup(l.stopIngester)
	start := func() { // live.startIngester, in schemaName
		t.Helper()
		history, err := tokenstd.NewHistory(tokenstd.Config{Schema: schemaName, Treasury: treasury, Logger: quietLog})
		require.NoError(t, err)
		rec, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{History: history})
		require.NoError(t, err)
		ing, err := ingest.New(db, client, ingest.Config{
			Schema: schemaName, Parties: []string{treasury}, Handler: ingest.Handlers(history, rec), Logger: quietLog,
			MaxBatchSize: 16, MaxBatchDelay: 5 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
			LockPoll: 20 * time.Millisecond,
		})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(ctx)
		l.stopIng, l.ingDone = cancel, make(chan error, 1)
		go func() { l.ingDone <- ing.Run(ctx) }()
	}
	submitter := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		l.append(l.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver, Amount: w.Amount.String(),
			InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "0.1"}))
		return nil
	})
	auto, err := withdrawal.NewAutomation(l.store, withdrawal.AutomationConfig{Submitter: submitter, Logger: quietLog})
	require.NoError(t, err)

	// A customer's holding, for a deposit.
	l.append(l.world.Tx(l.world.MintOp(external, "50")))
	holdings := l.mint("100", "100", "100", "100")
	start()
	l.caughtUp()
	l.append(l.world.Transfer(ledgertest.TransferSpec{Sender: external, Receiver: treasury, Amount: "20", Reason: "dep-0"}))
	for i, id := range []string{"wd-1", "wd-2"} {
		again(t, "Create", func() error {
			_, err := l.store.Create(ctx, l.request(id, "12.5", holdings[i]))
			return err
		})
	}
	var round withdrawal.Round
	again(t, "RunOnce", func() (err error) {
		round, err = auto.RunOnce(ctx)
		return err
	})
	require.Equal(t, withdrawal.Round{Submitted: 2}, round)
	l.caughtUp()
	l.stopIngester()
	pause() // the pool's connections sit idle

	again(t, "Create", func() error {
		_, err := l.store.Create(ctx, l.request("wd-3", "7.25", holdings[2]))
		return err
	})
	again(t, "RunOnce", func() (err error) {
		round, err = auto.RunOnce(ctx)
		return err
	})
	require.Equal(t, withdrawal.Round{Submitted: 1}, round)
	start()
	l.caughtUp()
	l.stopIngester()
	pause()

	var all, done []*withdrawal.Withdrawal
	again(t, "ListByStatus", func() (err error) {
		all, err = l.store.ListByStatus(ctx)
		return err
	})
	require.Len(t, all, 3)
	for _, w := range all {
		require.Equal(t, withdrawal.StatusCompleted, w.Status, w.ID)
	}
	again(t, "ListByStatus(completed)", func() (err error) {
		done, err = l.store.ListByStatus(ctx, withdrawal.StatusCompleted)
		return err
	})
	require.Len(t, done, 3)
	var entries []tokenstd.Entry
	again(t, "ListEntries", func() (err error) {
		entries, err = tokenstd.ListEntries(ctx, db, schemaName, tokenstd.EntryFilter{})
		return err
	})
	sum := decimal.Zero
	var fees, withdrawals, deposits int
	for _, e := range entries {
		sum = sum.Add(e.Amount)
		switch e.Kind {
		case tokenstd.KindWithdrawal:
			withdrawals++
			requireDec(t, "0.1", e.Fee)
		case tokenstd.KindDeposit, tokenstd.KindDepositUnassigned:
			deposits++
			requireDec(t, "20", e.Amount)
		}
		if e.Fee.IsPositive() {
			fees++
		}
	}
	require.Equal(t, 3, withdrawals)
	require.Equal(t, 1, deposits)
	require.Equal(t, 3, fees)
	requireDec(t, "387.45", sum) // 400 minted, 20 deposited, 32.25 withdrawn, 0.3 fees
	var balances map[tokenstd.Instrument]decimal.Decimal
	again(t, "Balances", func() (err error) {
		balances, err = tokenstd.Balances(ctx, db, schemaName)
		return err
	})
	require.Len(t, balances, 1)
	for _, b := range balances {
		requireDec(t, sum.String(), b)
	}
}

// idlePause returns the workload's pause, in which the pool's connections
// sit idle: under an idle_session_timeout of db's sessions, until the
// server has ended every session of the database (the Ingester stopped,
// only the pools' idle ones are left), which the next calls then meet; a
// fixed pause of 300ms (the timeout 200ms) did not make sure of it on a
// loaded machine. Without the timeout, a pause of 300ms.
func idlePause(t *testing.T, ctx context.Context, db *sqlx.DB) func() {
	t.Helper()
	var dbName, timeout string
	again(t, "current_database", func() error { return db.GetContext(ctx, &dbName, `SELECT current_database()`) })
	again(t, "idle_session_timeout", func() error {
		return db.GetContext(ctx, &timeout, `SELECT current_setting('idle_session_timeout')`)
	})
	if timeout == "0" {
		return func() { time.Sleep(300 * time.Millisecond) }
	}
	// An observer of its own, whose session the timeout spares.
	observer, err := sqlx.Open("postgres", pgtest.SharedServer(t).DSN(dbName)+"&options="+url.QueryEscape("-c idle_session_timeout=0"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = observer.Close() })
	return func() {
		t.Helper()
		require.Eventually(t, func() bool {
			var sessions int
			require.NoError(t, observer.GetContext(ctx, &sessions, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`))
			return sessions == 0
		}, 30*time.Second, 5*time.Millisecond, "the server did not end the pool's idle sessions (idle_session_timeout %s)", timeout)
	}
}

// again makes call, an exchange's call of txhistory after a pause, again
// while it fails with a transient database error, as OPERATIONS.md tells
// the exchange to under an idle_session_timeout: a statement that reaches
// a session as the server ends it (a backend leaves pg_stat_activity
// before it closes its socket) fails with "connection reset by peer",
// which database/sql does not retry for lib/pq. The calls after a pause
// met it about once in 20 runs under two busy loops and -race (ListByStatus,
// 300ms after the Ingester stopped), and every run once the pause waited
// for the sessions to leave pg_stat_activity. Under the 50ms
// statement_timeout of the "timeouts" cases, a call (or a set-up read)
// on a loaded machine fails with 57014, query_canceled, which the
// exchange would retry too: the other calls of the workload are made
// through again as well.
func again(t *testing.T, what string, call func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := call()
		if err != nil && ingest.IsTransientDBError(err) && time.Now().Before(deadline) {
			t.Logf("%s failed, calling again: %v", what, err)
			continue
		}
		require.NoError(t, err, what)
		return
	}
}

// exchangeTables makes, in db, the exchange's schema exch with tables
// named as txhistory's, of other columns: a statement of txhistory's that
// found one of them on the search_path would fail, or write the
// exchange's data.
func exchangeTables(t *testing.T, db *sqlx.DB) {
	t.Helper()
	tx, err := db.Beginx() // READ WRITE, as lib/pq begins every transaction
	require.NoError(t, err)
	_, err = tx.Exec(`CREATE SCHEMA exch`)
	require.NoError(t, err)
	for _, name := range []string{"checkpoint", "checkpoint_rewind", "ingested_update", "review_transaction", "synchronizer_time",
		"token_history", "token_holding", "token_instruction", "withdrawal", "withdrawal_gate", "withdrawal_gate_log",
		"withdrawal_reservation", "schema_migrations", "schema_version"} {
		_, err := tx.Exec(`CREATE TABLE exch.` + name + ` (exchange_note text NOT NULL)`)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())
}

// The integration's workload (dbaWorkload) under the session defaults an
// exchange's DBA may set for the database (ALTER DATABASE … SET) or give
// in the DSN (options=-c …), which txhistory does not choose: the default
// isolation, read-only by default (lib/pq begins every transaction READ
// WRITE: txhistory writes regardless), short lock and statement timeouts,
// an idle_session_timeout shorter than the pauses between calls, a
// search_path that finds the exchange's own tables named as txhistory's
// first (with the default schema and another), and a time zone and
// output styles other than PostgreSQL's defaults (lib/pq's startup sets
// DateStyle ISO itself). Nothing may be lost or doubled, and the balances
// must equal the entries' sums.
func TestRV145WorkloadUnderDBADefaults(t *testing.T) {
	timeouts := map[string]string{"lock_timeout": "50ms", "statement_timeout": "50ms"}
	searchPath := map[string]string{"search_path": "exch, public"}
	for _, c := range []struct {
		name       string
		settings   map[string]string
		schemaName string
		inDSN      bool
	}{
		{"repeatable read", map[string]string{"default_transaction_isolation": "repeatable read"}, schema.DefaultName, false},
		{"serializable", map[string]string{"default_transaction_isolation": "serializable"}, schema.DefaultName, false},
		{"read only", map[string]string{"default_transaction_read_only": "on"}, schema.DefaultName, false},
		{"timeouts", timeouts, schema.DefaultName, false},
		{"timeouts in DSN", timeouts, schema.DefaultName, true},
		{"idle session", map[string]string{"idle_session_timeout": "200ms"}, schema.DefaultName, false},
		{"search_path", searchPath, schema.DefaultName, false},
		{"search_path other schema", searchPath, "exch_txh", false},
		{"search_path in DSN, other schema", searchPath, "exch_txh", true},
		{"styles", map[string]string{"TimeZone": "Pacific/Chatham", "DateStyle": "SQL, DMY", "IntervalStyle": "iso_8601", "extra_float_digits": "-15"}, schema.DefaultName, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, job := dbaDefaultsDB(t, c.settings, c.inDSN)
			exchangeTables(t, job)
			dbaWorkload(t, db, job, c.schemaName)
		})
	}
}

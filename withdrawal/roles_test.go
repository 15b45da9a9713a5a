package withdrawal_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// docBlock is a fenced code block of docs/OPERATIONS.md.
type docBlock struct{ lang, text string }

// rolesSection returns the code blocks of docs/OPERATIONS.md's section
// "Database roles", in order.
func rolesSection(t *testing.T) []docBlock {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "OPERATIONS.md"))
	require.NoError(t, err)
	text := string(b)
	start := strings.Index(text, "\n## Database roles")
	require.GreaterOrEqual(t, start, 0, `docs/OPERATIONS.md has no section "Database roles"`)
	text = text[start+1:]
	if end := strings.Index(text, "\n## "); end >= 0 {
		text = text[:end]
	}
	var out []docBlock
	for _, m := range regexp.MustCompile("(?ms)^```(\\w*)\n(.*?)^```").FindAllStringSubmatch(text, -1) {
		out = append(out, docBlock{lang: m[1], text: m[2]})
	}
	return out
}

// documentedRoles sets up docs/OPERATIONS.md's section "Database roles" as
// written (its SQL as the superuser, its migration job as txhistory_owner),
// with the exchange's refund table granted as the section says, and
// returns the superuser's connection and the roles' connections. Roles are
// cluster-wide: the documented names get a suffix of this run and are
// dropped when the test ends.
func documentedRoles(t *testing.T, ctx context.Context) docRoles {
	t.Helper()
	dsn := pgtest.NewDSN(t)
	admin, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	var dbname string
	require.NoError(t, admin.GetContext(ctx, &dbname, `SELECT current_database()`))

	blocks := rolesSection(t)
	// Roles are cluster-wide: the documented names get a suffix of this
	// run, and are dropped when the test ends.
	var sfxb [4]byte
	_, _ = rand.Read(sfxb[:])
	sfx := hex.EncodeToString(sfxb[:])
	password := "pw-" + sfx
	renamed := map[string]string{}
	var names []string
	for _, b := range blocks {
		if b.lang != "sql" {
			continue
		}
		for _, m := range createRole.FindAllStringSubmatch(sqlComment.ReplaceAllString(b.text, ""), -1) {
			if _, ok := renamed[m[1]]; !ok {
				renamed[m[1]] = m[1] + "_" + sfx
				names = append(names, m[1])
			}
		}
	}
	require.NotEmpty(t, names, "the section creates no roles")
	nameRe := regexp.MustCompile(`\b(` + strings.Join(names, "|") + `)\b`)
	rename := func(s string) string {
		return nameRe.ReplaceAllStringFunc(s, func(n string) string { return renamed[n] })
	}
	role := func(name string) string {
		t.Helper()
		r, ok := renamed[name]
		require.True(t, ok, "docs/OPERATIONS.md no longer creates role %s", name)
		return r
	}
	t.Cleanup(func() {
		all := make([]string, 0, len(renamed))
		for _, r := range renamed {
			all = append(all, r)
		}
		var existing []string
		if err := admin.Select(&existing, `SELECT rolname FROM pg_roles WHERE rolname = ANY($1)`, pq.Array(all)); err != nil {
			t.Errorf("listing the test's roles: %v", err)
			return
		}
		if len(existing) == 0 {
			return
		}
		// One role at a time: DROP OWNED BY of several roles at once fails on
		// a default ACL that one owns and names another ("could not find
		// tuple for default ACL").
		for _, r := range existing {
			if _, err := admin.Exec(`DROP OWNED BY ` + r); err != nil {
				t.Errorf("dropping what role %s owns: %v", r, err)
			}
		}
		for _, r := range existing {
			if _, err := admin.Exec(`DROP ROLE ` + r); err != nil {
				t.Errorf("dropping role %s: %v", r, err)
			}
		}
	})

	dsnOf := func(name string) string {
		t.Helper()
		r := role(name)
		if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
			u.User = url.UserPassword(r, password)
			return u.String()
		}
		return dsn + " user=" + r + " password=" + password
	}
	as := func(name string) *sqlx.DB {
		t.Helper()
		db, err := sqlx.Open("postgres", dsnOf(name))
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		require.NoError(t, db.PingContext(ctx), "connecting as %s", role(name))
		return db
	}

	// The section as written: SQL as the superuser, the shell block's
	// migration job as txhistory_owner.
	var ran, migrated int
	for _, b := range blocks {
		switch b.lang {
		case "sql":
			for i, q := range docStatements(t, b.text, dbname, password, rename) {
				if _, err := admin.ExecContext(ctx, q); err != nil {
					var pe *pq.Error
					if ran == 0 && i == 0 && errors.As(err, &pe) && pe.Code == permission {
						skipUnlessCI(t, "the test server's role cannot create roles: %v", err)
					}
					require.NoError(t, err, q)
				}
			}
			ran++
		case "sh":
			require.Contains(t, b.text, "txhistory_owner", "the migration job runs as txhistory_owner")
			require.Contains(t, b.text, "ingestd -migrate-only")
			require.NoError(t, schema.Migrate(ctx, as("txhistory_owner")), "migrating as txhistory_owner")
			migrated++
		}
	}
	require.Equal(t, 1, migrated, "one migration step in the section")
	require.GreaterOrEqual(t, ran, 2, "SQL before and after the migration")

	// The exchange's own table, written by its Refunder: the section says to
	// grant it to the roles whose transactions run the Refunder.
	require.NoError(t, createExchangeTables(ctx, admin))
	_, err = admin.ExecContext(ctx, `GRANT INSERT ON public.refund TO `+role("txhistory_ingest")+`, `+role("txhistory_withdrawals"))
	require.NoError(t, err)
	return docRoles{admin: admin, as: as, dsnOf: dsnOf, role: role}
}

// docRoles is what documentedRoles set up.
type docRoles struct {
	admin *sqlx.DB
	as    func(name string) *sqlx.DB // a connection as the documented role name
	dsnOf func(name string) string   // its connection string
	role  func(name string) string   // its name in this run
}

var (
	createRole  = regexp.MustCompile(`(?i)\bCREATE\s+ROLE\s+(\w+)`)
	psqlVar     = regexp.MustCompile(`:'\w+'`)
	onDatabase  = regexp.MustCompile(`(?i)(\bDATABASE\s+)integration\b`)
	sqlComment  = regexp.MustCompile(`--.*`)
	permission  = pq.ErrorCode("42501") // insufficient_privilege
	docDatabase = "integration"
)

// docStatements turns a ```sql block into statements to run: comments
// dropped, `\connect integration` dropped (the test runs everything in its
// own database), psql's :'password' variables replaced by password, the
// database name by dbname, and role names renamed.
func docStatements(t *testing.T, block, dbname, password string, rename func(string) string) []string {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.Split(block, "\n") {
		line = sqlComment.ReplaceAllString(line, "")
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], `\`) {
			require.Equal(t, []string{`\connect`, docDatabase}, f, "a psql meta-command the test does not know")
			continue
		}
		b.WriteString(line + "\n")
	}
	s := psqlVar.ReplaceAllString(b.String(), pq.QuoteLiteral(password))
	s = onDatabase.ReplaceAllString(s, "${1}"+pq.QuoteIdentifier(dbname))
	s = rename(s)
	require.NotContains(t, s, ":'", "a psql variable the test does not replace")
	var out []string
	for _, stmt := range strings.Split(s, ";") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}

// requireDenied requires err to be PostgreSQL's permission denied; what
// says who tried what.
func requireDenied(t *testing.T, err error, what string) {
	t.Helper()
	var pe *pq.Error
	require.True(t, errors.As(err, &pe), "%s: want permission denied, got %v", what, err)
	require.Equal(t, permission, pe.Code, "%s: want permission denied, got %v", what, err)
}

// docs/OPERATIONS.md, "Database roles: least privilege", as written: its SQL
// run against a fresh database (role names made unique to the run, the
// database name and passwords filled in), the migrations run as
// txhistory_owner as its shell block says, and then each role doing its
// job, and nothing else:
//   - txhistory_ingest runs the Ingester with the History handler and the
//     Reconciler (completion, recovery, expiry with a refund), and applies
//     a rewind (the validator node restore runbook with the daemon's
//     environment), after which ingestion replays, but cannot change the
//     gate;
//   - a txhistory_withdrawals member creates withdrawals and runs an
//     Automation round (one submitted, one failed with a refund), but cannot
//     change the gate nor what the ledger wrote;
//   - a txhistory_operator member runs RestoreProcedure (database restored
//     already, tSafe past), Disable and EnableAfter, and resolves set-aside
//     transactions, but cannot write the checkpoint (nor move the clock);
//   - a txhistory_reader member reads and cannot write.
func TestOperationsRolesAsDocumented(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	r := documentedRoles(t, ctx)
	admin, as, role := r.admin, r.as, r.role

	ingestDB, svcDB, opsDB, readerDB := as("txhistory_ingest"), as("withdrawal_service"), as("alice"), as("backoffice")
	newStore := func(db *sqlx.DB) *withdrawal.Store {
		s, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
		require.NoError(t, err)
		return s
	}
	svc, ops, reader := newStore(svcDB), newStore(opsDB), newStore(readerDB)

	// Ingestion as txhistory_ingest: the Ingester, the History handler and
	// the Reconciler, as examples/ingestd chains them.
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(10 * time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	cps, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	l := &live{t: t, ctx: ctx, db: ingestDB, p: p, client: client, world: &ledgertest.TokenWorld{}, store: newStore(ingestDB), cps: cps}
	t.Cleanup(l.stopIngester)
	l.startIngester()
	cids := l.mint("10", "10", "10", "10")
	l.caughtUp()
	minted := p.LedgerEnd()

	// The withdrawal service: Create, and one Automation round.
	for i, id := range []string{"wd-1", "wd-2"} {
		_, err := svc.Create(ctx, l.request(id, "5", cids[i]))
		require.NoError(t, err, "Create as a txhistory_withdrawals member")
	}
	auto, err := withdrawal.NewAutomation(svc, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(_ context.Context, w *withdrawal.Withdrawal) error {
			if w.ID == "wd-2" {
				return withdrawal.ErrNoPreapproval
			}
			return nil
		})})
	require.NoError(t, err)
	round, err := auto.RunOnce(ctx)
	require.NoError(t, err, "an Automation round as a txhistory_withdrawals member")
	require.Equal(t, withdrawal.Round{Submitted: 1, Failed: 1}, round)
	short := l.request("wd-3", "5", cids[3])
	short.TrecTgt = l.now.Add(time.Second)
	_, err = svc.Create(ctx, short)
	require.NoError(t, err)

	// The ledger completes wd-1 and pays out wd-lost, whose request is
	// unknown; wd-3 expires.
	l.append(l.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "5",
		InputHoldings: []string{cids[0]}, Reason: "wd-1"}))
	l.append(l.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "3",
		InputHoldings: []string{cids[2]}, Reason: "wd-lost"}))
	l.advance(time.Minute)
	l.caughtUp()
	for id, st := range map[string]withdrawal.Status{"wd-1": withdrawal.StatusCompleted, "wd-2": withdrawal.StatusFailed,
		"wd-3": withdrawal.StatusExpired, "wd-lost": withdrawal.StatusRecovered} {
		w, err := reader.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, st, w.Status, id)
	}
	require.Equal(t, map[string]string{"wd-2": "6", "wd-3": "6"}, refunds(t, admin))
	res, err := reader.Reservations(ctx)
	require.NoError(t, err)
	require.Empty(t, res)
	_, err = tokenstd.LiveHoldings(ctx, readerDB, schema.DefaultName)
	require.NoError(t, err, "a txhistory_reader member reads")

	// An operator: the Integration DB restore procedure (restored already,
	// tSafe long past), then the gate closed and opened by hand.
	rep, err := withdrawal.RestoreProcedure{Store: ops, TSafe: time.Unix(1, 0), PollInterval: time.Millisecond,
		Logger: quietLog}.Run(ctx)
	require.NoError(t, err, "RestoreProcedure as a txhistory_operator member")
	require.False(t, rep.EnabledAt.IsZero())
	require.NoError(t, ops.Disable(ctx, "roles test"))
	_, err = svc.Create(ctx, l.request("wd-4", "1", cids[1]))
	require.ErrorIs(t, err, withdrawal.ErrWithdrawalsDisabled)
	round, err = auto.RunOnce(ctx)
	require.NoError(t, err)
	require.True(t, round.Paused)
	opened, _, err := ops.EnableAfter(ctx, time.Unix(1, 0), "roles test")
	require.NoError(t, err, "EnableAfter as a txhistory_operator member")
	require.True(t, opened)
	g, err := svc.Gate(ctx)
	require.NoError(t, err)
	require.True(t, g.Open())
	_, err = opsDB.ExecContext(ctx, `UPDATE txhistory.review_transaction SET resolved_at = now(), resolution = 'roles test'
		WHERE resolved_at IS NULL`)
	require.NoError(t, err, "resolving set-aside transactions as a txhistory_operator member")

	// Every privilege each role holds on txhistory's tables, against the
	// list below: a grant broadened in the section (or a migration that
	// grants more) fails here until the list, and so a reviewer, agrees.
	requireGrants(ctx, t, admin, map[string]string{
		"txhistory_ingest":      role("txhistory_ingest"),
		"txhistory_withdrawals": role("withdrawal_service"),
		"txhistory_operator":    role("alice"),
		"txhistory_reader":      role("backoffice"),
	})

	// What each role must not do.
	for who, s := range map[string]*withdrawal.Store{"txhistory_ingest": l.store, "txhistory_withdrawals": svc, "txhistory_reader": reader} {
		requireDenied(t, s.Disable(ctx, "roles test"), who+" closing the gate")
		requireDenied(t, s.Enable(ctx, "roles test"), who+" opening the gate")
	}
	for who, s := range map[string]*withdrawal.Store{"txhistory_reader": reader, "txhistory_operator": ops} {
		_, err = s.Create(ctx, l.request("wd-5", "1", cids[1]))
		requireDenied(t, err, who+" creating a withdrawal")
	}
	for _, c := range []struct {
		who string
		db  *sqlx.DB
		qs  []string
	}{
		{"txhistory_ingest", ingestDB, []string{
			`UPDATE txhistory.withdrawal_gate SET enabled = true`,
			`INSERT INTO txhistory.withdrawal_gate_log (enabled) VALUES (true)`,
			`INSERT INTO txhistory.withdrawal_reservation (contract_id, withdrawal_id) VALUES ('x', 'wd-1')`,
			`DELETE FROM txhistory.withdrawal`,
			`DELETE FROM txhistory.txhistory_migration`,
			`UPDATE txhistory.checkpoint_rewind SET note = ''`,
			// The books: ingestion appends to them and closes what the
			// ledger closed; it never deletes, nor rewrites an amount or
			// what a set-aside transaction was.
			`DELETE FROM txhistory.token_history`,
			`UPDATE txhistory.token_history SET amount = 0`,
			`DELETE FROM txhistory.token_holding`,
			`UPDATE txhistory.token_holding SET amount = 0`,
			`DELETE FROM txhistory.token_instruction`,
			`UPDATE txhistory.token_instruction SET amount = 0`,
			`DELETE FROM txhistory.review_transaction`,
			`UPDATE txhistory.review_transaction SET error = ''`,
			`UPDATE txhistory.ingested_update SET ledger_offset = 0`,
			`DELETE FROM txhistory.checkpoint`,
		}},
		{"txhistory_withdrawals", svcDB, []string{
			`UPDATE txhistory.withdrawal_gate SET enabled = true`,
			`INSERT INTO txhistory.withdrawal_gate_log (enabled) VALUES (true)`,
			`UPDATE txhistory.withdrawal SET amount = 0`,
			`UPDATE txhistory.withdrawal SET update_id = 'x', transferred = 0`,
			`DELETE FROM txhistory.withdrawal`,
			`UPDATE txhistory.token_holding SET amount = 0`,
			`UPDATE txhistory.checkpoint SET ledger_offset = 0`,
			`UPDATE txhistory.review_transaction SET resolution = 'x'`,
		}},
		{"txhistory_operator", opsDB, []string{
			`UPDATE txhistory.withdrawal SET status = 'failed'`,
			`DELETE FROM txhistory.withdrawal_reservation`,
			`UPDATE txhistory.token_holding SET amount = 0`,
			`DELETE FROM txhistory.checkpoint_rewind`,
			`DELETE FROM txhistory.withdrawal_gate_log`,
			`UPDATE txhistory.checkpoint SET ledger_offset = ledger_offset + 1000`,
			`UPDATE txhistory.synchronizer_time SET record_time = record_time + interval '1 day'`,
			`INSERT INTO txhistory.checkpoint_rewind (from_offset, to_offset, mode) VALUES (1, 0, 'x')`,
		}},
		{"txhistory_reader", readerDB, []string{
			`UPDATE txhistory.checkpoint SET ledger_offset = 0`,
			`INSERT INTO txhistory.withdrawal (id, amount, instrument_admin, instrument_id, status) VALUES ('x', 1, 'a', 'i', 'requested')`,
			`UPDATE txhistory.withdrawal SET status = 'failed'`,
			`DELETE FROM txhistory.withdrawal_reservation`,
			`UPDATE txhistory.review_transaction SET resolution = 'x'`,
			`DELETE FROM txhistory.token_holding`,
			`INSERT INTO txhistory.checkpoint_rewind (from_offset, to_offset, mode) VALUES (1, 0, 'x')`,
		}},
	} {
		for _, q := range c.qs {
			_, err := c.db.ExecContext(ctx, q)
			requireDenied(t, err, c.who+": "+q)
		}
	}
	// What the History handler updates that this run did not: a deposit
	// to an unknown account becomes deposit_unassigned, and so does the
	// outcome of the instruction it accepted (no row matches here).
	for _, q := range []string{
		`UPDATE txhistory.token_history SET kind = 'deposit_unassigned', account = '' WHERE update_id = 'none'`,
		`UPDATE txhistory.token_instruction SET outcome = 'deposit_unassigned' WHERE contract_id = 'none'`,
	} {
		_, err := ingestDB.ExecContext(ctx, q)
		require.NoError(t, err, "txhistory_ingest: %s", q)
	}

	// The validator node restore runbook's rewind (recovery.Apply, what
	// examples/runbook -yes writes) with the daemon's environment, as
	// txhistory_ingest, ingestion stopped; ingestion then replays, changing
	// nothing. An operator's login cannot apply it.
	l.stopIngester()
	before := snapshot(t, admin)
	rewind := func(db *sqlx.DB) {
		t.Helper()
		cp, found, err := cps.Get(ctx, db)
		require.NoError(t, err)
		require.True(t, found)
		require.NoError(t, recovery.Apply(ctx, db, &recovery.Rewind{Schema: schema.DefaultName, Mode: recovery.ModeNonUnique,
			From: cp.Offset, To: minted, LastUpdateID: cp.UpdateID, RecoveryTime: cp.RecordTime, SynchronizerID: cp.SynchronizerID}))
	}
	cp, _, err := cps.Get(ctx, opsDB)
	require.NoError(t, err)
	requireDenied(t, recovery.Apply(ctx, opsDB, &recovery.Rewind{Schema: schema.DefaultName, Mode: recovery.ModeNonUnique,
		From: cp.Offset, To: minted, LastUpdateID: cp.UpdateID, RecoveryTime: cp.RecordTime, SynchronizerID: cp.SynchronizerID}),
		"txhistory_operator applying a rewind")
	rewind(ingestDB)
	l.startIngester()
	l.caughtUp()
	l.stopIngester()
	require.Equal(t, before, snapshot(t, admin), "the replay after the rewind changed the withdrawals")
	rws, err := cps.Rewinds(ctx, readerDB)
	require.NoError(t, err)
	require.Len(t, rws, 1)

	// The rest of what the section says each role does, ingestion stopped.
	// txhistory_ingest: the runbook's step 1 check and dedup retention.
	require.NoError(t, recovery.CheckStopped(ctx, ingestDB, ""), "CheckStopped as txhistory_ingest")
	dd, err := dedup.NewStore(schema.DefaultName)
	require.NoError(t, err)
	_, err = dd.PruneBefore(ctx, ingestDB, time.Unix(1, 0))
	require.NoError(t, err, "dedup retention (PruneBefore) as txhistory_ingest")
	// A transaction set aside for review: readers list it, an operator
	// resolves it with Ingester.ResolveSetAside.
	_, err = admin.ExecContext(ctx, `INSERT INTO txhistory.review_transaction (update_id, ledger_offset, error) VALUES ('upd-review', 1, 'roles test')`)
	require.NoError(t, err)
	ingesterOf := func(db *sqlx.DB) *ingest.Ingester {
		ing, err := ingest.New(db, client, ingest.Config{Parties: []string{treasury}, Lock: ingest.LockNone, Logger: quietLog})
		require.NoError(t, err)
		return ing
	}
	aside, err := ingesterOf(readerDB).SetAsideTransactions(ctx)
	require.NoError(t, err, "SetAsideTransactions as a txhistory_reader member")
	require.Len(t, aside, 1)
	require.NoError(t, ingesterOf(opsDB).ResolveSetAside(ctx, "upd-review", "roles test"), "ResolveSetAside as a txhistory_operator member")
	requireDenied(t, ingesterOf(readerDB).ResolveSetAside(ctx, "upd-review", "again"), "txhistory_reader resolving a set-aside transaction")
	// What the exchange's readers call.
	_, err = tokenstd.ListEntries(ctx, readerDB, schema.DefaultName, tokenstd.EntryFilter{})
	require.NoError(t, err, "ListEntries as a txhistory_reader member")
	_, err = tokenstd.Balances(ctx, readerDB, schema.DefaultName)
	require.NoError(t, err)
	_, err = tokenstd.PendingInstructions(ctx, readerDB, schema.DefaultName)
	require.NoError(t, err)
	_, err = reader.GateLog(ctx)
	require.NoError(t, err)
	_, err = reader.IngestedTime(ctx)
	require.NoError(t, err)
	// The withdrawal service marks withdrawals failed (with a refund) and
	// submitted itself, outside the Automation.
	_, err = svc.Create(ctx, l.request("wd-6", "1", cids[1]))
	require.NoError(t, err)
	_, err = svc.MarkFailed(ctx, "wd-6", "roles test")
	require.NoError(t, err, "MarkFailed as a txhistory_withdrawals member")
	_, err = svc.Create(ctx, l.request("wd-7", "1", cids[1]))
	require.NoError(t, err)
	_, err = svc.MarkSubmitted(ctx, "wd-7")
	require.NoError(t, err, "MarkSubmitted as a txhistory_withdrawals member")
	require.Contains(t, refunds(t, admin), "wd-6")

	// The manual escape of docs/OPERATIONS.md's ErrSubmitAttempted row, as
	// written, as a txhistory_withdrawals member: for one marked submitted
	// through MarkSubmitted (wd-7) and one the Automation submitted (wd-8),
	// the UPDATE and MarkFailedTx in one transaction fail it, refunded once.
	_, err = svc.Create(ctx, l.request("wd-8", "1", cids[3]))
	require.NoError(t, err)
	round, err = auto.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, round.Submitted)
	escape := manualEscape(t)
	for _, id := range []string{"wd-7", "wd-8"} {
		_, err = svc.MarkFailed(ctx, id, "roles test")
		require.ErrorIs(t, err, withdrawal.ErrSubmitAttempted, id)
		tx, err := svcDB.BeginTxx(ctx, nil)
		require.NoError(t, err)
		_, err = tx.ExecContext(ctx, escape, id)
		require.NoError(t, err, "the manual escape as a txhistory_withdrawals member: %s", escape)
		w, err := svc.MarkFailedTx(ctx, tx, id, "roles test: escape")
		require.NoError(t, err, "MarkFailedTx after the manual escape, %s", id)
		require.Equal(t, withdrawal.StatusFailed, w.Status)
		require.NoError(t, tx.Commit())
		require.Equal(t, "2", refunds(t, admin)[id], id)
	}
}

// manualEscape returns the UPDATE that docs/OPERATIONS.md's
// ErrSubmitAttempted row runs before MarkFailedTx, as written.
func manualEscape(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "OPERATIONS.md"))
	require.NoError(t, err)
	m := regexp.MustCompile("`(UPDATE txhistory\\.withdrawal SET submit_attempted_at = NULL[^`]*)`").FindStringSubmatch(string(b))
	require.NotNil(t, m, "docs/OPERATIONS.md has no manual escape for ErrSubmitAttempted")
	return m[1]
}

// grantsDocumented is what each role of docs/OPERATIONS.md may do on
// txhistory's tables (through its groups): table privileges, and UPDATE
// column by column where only some columns are granted.
var grantsDocumented = map[string][]string{
	"txhistory_ingest": {
		"checkpoint INSERT", "checkpoint SELECT", "checkpoint UPDATE",
		"checkpoint_rewind INSERT", "checkpoint_rewind SELECT",
		"ingested_update DELETE", "ingested_update INSERT", "ingested_update SELECT",
		"review_transaction INSERT", "review_transaction SELECT", "review_transaction UPDATE(resolution)", "review_transaction UPDATE(resolved_at)",
		"synchronizer_time DELETE", "synchronizer_time INSERT", "synchronizer_time SELECT", "synchronizer_time UPDATE",
		"token_history INSERT", "token_history SELECT", "token_history UPDATE(account)", "token_history UPDATE(kind)",
		"token_holding INSERT", "token_holding SELECT",
		"token_holding UPDATE(archived_node_id)", "token_holding UPDATE(archived_offset)", "token_holding UPDATE(archived_record_time)", "token_holding UPDATE(archived_update_id)",
		"token_instruction INSERT", "token_instruction SELECT",
		"token_instruction UPDATE(closed_offset)", "token_instruction UPDATE(closed_record_time)", "token_instruction UPDATE(closed_update_id)", "token_instruction UPDATE(outcome)",
		"txhistory_migration SELECT",
		"withdrawal INSERT", "withdrawal SELECT", "withdrawal UPDATE",
		"withdrawal_gate SELECT",
		"withdrawal_gate_log SELECT",
		"withdrawal_reservation DELETE", "withdrawal_reservation SELECT",
	},
	"txhistory_withdrawals": {
		"checkpoint SELECT",
		"checkpoint_rewind SELECT",
		"ingested_update SELECT",
		"review_transaction SELECT",
		"synchronizer_time SELECT",
		"token_history SELECT",
		"token_holding SELECT", "token_holding UPDATE(created_node_id)",
		"token_instruction SELECT",
		"txhistory_migration SELECT",
		"withdrawal INSERT", "withdrawal SELECT", "withdrawal UPDATE(closed_at)", "withdrawal UPDATE(failure_reason)", "withdrawal UPDATE(status)", "withdrawal UPDATE(submit_attempted_at)", "withdrawal UPDATE(submitted_at)", "withdrawal UPDATE(updated_at)",
		"withdrawal_gate SELECT", "withdrawal_gate UPDATE(id)",
		"withdrawal_gate_log SELECT",
		"withdrawal_reservation DELETE", "withdrawal_reservation INSERT", "withdrawal_reservation SELECT",
	},
	"txhistory_operator": {
		"checkpoint SELECT",
		"checkpoint_rewind SELECT",
		"ingested_update SELECT",
		"review_transaction SELECT", "review_transaction UPDATE(resolution)", "review_transaction UPDATE(resolved_at)",
		"synchronizer_time SELECT",
		"token_history SELECT",
		"token_holding SELECT",
		"token_instruction SELECT",
		"txhistory_migration SELECT",
		"withdrawal SELECT", "withdrawal UPDATE(submit_attempted_at)",
		"withdrawal_gate SELECT", "withdrawal_gate UPDATE",
		"withdrawal_gate_log INSERT", "withdrawal_gate_log SELECT",
		"withdrawal_reservation SELECT",
	},
	"txhistory_reader": {
		"checkpoint SELECT",
		"checkpoint_rewind SELECT",
		"ingested_update SELECT",
		"review_transaction SELECT",
		"synchronizer_time SELECT",
		"token_history SELECT",
		"token_holding SELECT",
		"token_instruction SELECT",
		"txhistory_migration SELECT",
		"withdrawal SELECT",
		"withdrawal_gate SELECT",
		"withdrawal_gate_log SELECT",
		"withdrawal_reservation SELECT",
	},
}

// requireGrants compares each role's privileges on the tables of schema
// txhistory, as PostgreSQL resolves them (memberships and PUBLIC
// included), with grantsDocumented.
func requireGrants(ctx context.Context, t *testing.T, admin *sqlx.DB, roles map[string]string) {
	t.Helper()
	for who, r := range roles {
		var got []string
		require.NoError(t, admin.SelectContext(ctx, &got, `
SELECT c.relname || ' ' || p.priv
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
     unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE','REFERENCES','TRIGGER']) AS p(priv)
WHERE n.nspname = 'txhistory' AND c.relkind IN ('r', 'p', 'v')
  AND has_table_privilege($1, c.oid, p.priv)
UNION ALL
SELECT c.relname || ' ' || p.priv || '(' || a.attname || ')'
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped,
     unnest(ARRAY['INSERT','UPDATE']) AS p(priv)
WHERE n.nspname = 'txhistory' AND c.relkind IN ('r', 'p', 'v')
  AND NOT has_table_privilege($1, c.oid, p.priv)
  AND has_column_privilege($1, c.oid, a.attnum, p.priv)
ORDER BY 1`, r))
		require.Equal(t, grantsDocumented[who], got, "%s's privileges on txhistory's tables", who)
	}
}

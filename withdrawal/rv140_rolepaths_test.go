package withdrawal_test

import (
	"context"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// Every History path that writes, run as txhistory_ingest with the grants
// docs/OPERATIONS.md gives it (the narrowing block of 22ab154 included):
// deposits credited and unassigned (direct and through an accepted
// instruction), holdings archived, incoming instructions accepted,
// rejected, withdrawn and expired, the treasury's own instructions
// accepted, rejected and replaced (a multi-step transfer), a malformed
// transaction set aside and resolved, dedup retention, the runbook's plan
// and rewind and ErrNothingIngested's statements; then the operator's
// Integration DB restore procedure. None may meet "permission denied".
func TestDocumentedRolesRunEveryWritePath(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	r := documentedRoles(t, ctx)
	admin, as := r.admin, r.as
	// The exchange's balances, written by its DepositCrediter in the
	// ingestion's transactions.
	_, err := admin.ExecContext(ctx, `CREATE TABLE public.credit (update_id text, node_id int, account text NOT NULL,
		amount numeric NOT NULL, PRIMARY KEY (update_id, node_id));
		GRANT INSERT ON public.credit TO `+r.role("txhistory_ingest"))
	require.NoError(t, err)
	ingestDB, svcDB, opsDB := as("txhistory_ingest"), as("withdrawal_service"), as("alice")
	newStore := func(db *sqlx.DB) *withdrawal.Store {
		s, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
		require.NoError(t, err)
		return s
	}
	svc, ops := newStore(svcDB), newStore(opsDB)

	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(10*time.Millisecond), ledgertest.WithSeparateAdmin())
	require.NoError(t, err)
	t.Cleanup(p.Close)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true},
		Admin: ledger.Endpoint{Target: p.AdminAddr(), Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	cps, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	l := &live{t: t, ctx: ctx, db: ingestDB, p: p, client: client, world: &ledgertest.TokenWorld{}, store: newStore(ingestDB), cps: cps}
	t.Cleanup(l.stopIngester)

	// The History credits deposits whose reason names acct-known, and
	// answers ErrUnknownAccount for the others; ingestion sets malformed
	// transactions aside.
	var ing *ingest.Ingester
	start := func() {
		history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog,
			Credit: tokenstd.CreditFunc(func(ctx context.Context, tx *sqlx.Tx, e *tokenstd.Entry) error {
				if e.Account != "acct-known" {
					return tokenstd.ErrUnknownAccount
				}
				_, err := tx.ExecContext(ctx, `INSERT INTO public.credit VALUES ($1, $2, $3, $4)`, e.UpdateID, e.NodeID, e.Account, e.Amount.String())
				return err
			})})
		require.NoError(t, err)
		rec, err := withdrawal.NewReconciler(l.store, withdrawal.ReconcilerConfig{History: history})
		require.NoError(t, err)
		ing, err = ingest.New(ingestDB, client, ingest.Config{Parties: []string{treasury}, Handler: ingest.Handlers(history, rec),
			Logger: quietLog, Poison: ingest.PoisonSetAside, MaxBatchSize: 16, MaxBatchDelay: 5 * time.Millisecond,
			MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, LockPoll: 20 * time.Millisecond})
		require.NoError(t, err)
		rctx, cancel := context.WithCancel(ctx)
		l.stopIng, l.ingDone = cancel, make(chan error, 1)
		go func() { l.ingDone <- ing.Run(rctx) }()
	}
	start()
	cids := l.mint("10", "10", "10", "10", "10")
	l.append(l.world.Mint(external, "100"))
	l.caughtUp()

	// The treasury's withdrawals: one accepted, one rejected (failed,
	// refunded), one advanced by the registry to a successor instruction
	// (the first replaced) and then accepted.
	offerOf := func(id, cid string) (*withdrawal.Withdrawal, *ledger.Transaction, string) {
		w, err := svc.Create(ctx, l.request(id, "5", cid))
		require.NoError(t, err, "Create as a txhistory_withdrawals member")
		tx, icid := l.world.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver, Amount: w.Amount.String(),
			InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "0"})
		return w, l.append(tx)[0], icid
	}
	_, _, accepted := offerOf("wd-accepted", cids[0])
	_, _, rejected := offerOf("wd-rejected", cids[1])
	_, advOffer, advanced := offerOf("wd-advanced", cids[2])
	l.caughtUp()
	l.append(l.world.Accept(accepted))
	l.append(l.world.Reject(rejected))
	advance, final := advancedInstruction(t, advOffer, l.world.Accept(advanced), advanced, "00instrNEXT")
	advance.Offset, advance.RecordTime, final.Offset, final.RecordTime = 0, time.Time{}, 0, time.Time{}
	l.append(advance)
	l.append(final)
	l.caughtUp()

	// Deposits: direct transfers, and incoming instructions accepted
	// (credited and unassigned), rejected, withdrawn and expired.
	in := func(amount, reason string) string {
		tx, icid := l.world.Offer(ledgertest.TransferSpec{Sender: external, Receiver: treasury, Amount: amount, Reason: reason})
		l.append(tx)
		return icid
	}
	l.append(l.world.Transfer(ledgertest.TransferSpec{Sender: external, Receiver: treasury, Amount: "1", Reason: "acct-known"}))
	l.append(l.world.Transfer(ledgertest.TransferSpec{Sender: external, Receiver: treasury, Amount: "2", Reason: "acct-unknown"}))
	inKnown, inUnknown, inRejected, inWithdrawn, inExpired := in("3", "acct-known"), in("4", "acct-unknown"),
		in("5", "acct-known"), in("6", "acct-known"), in("7", "acct-known")
	l.caughtUp()
	l.append(l.world.Accept(inKnown))
	l.append(l.world.Accept(inUnknown))
	l.append(l.world.Reject(inRejected))
	l.append(l.world.Withdraw(inWithdrawn))
	l.caughtUp()
	l.append(l.world.Expire(inExpired))

	// A malformed transaction, set aside.
	bad := l.world.Transfer(ledgertest.TransferSpec{Sender: external, Receiver: treasury, Amount: "1", Reason: "acct-known"})
	deep := ledger.Int64(1)
	for range 150 {
		deep = ledger.List(deep)
	}
	for _, ev := range bad.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok {
			c.CreateArguments = ledger.Record(nil, ledger.F("deep", deep))
			break
		}
	}
	bad = l.append(bad)[0]
	l.caughtUp()

	for id, st := range map[string]withdrawal.Status{"wd-accepted": withdrawal.StatusCompleted,
		"wd-rejected": withdrawal.StatusRejected, "wd-advanced": withdrawal.StatusCompleted} {
		require.Equal(t, st, l.get(id).Status, id)
	}
	var outcomes []string
	require.NoError(t, admin.SelectContext(ctx, &outcomes, `SELECT DISTINCT outcome FROM txhistory.token_instruction
		WHERE outcome IS NOT NULL ORDER BY 1`))
	t.Logf("instruction outcomes: %v", outcomes)
	var kinds []string
	require.NoError(t, admin.SelectContext(ctx, &kinds, `SELECT DISTINCT kind FROM txhistory.token_history ORDER BY 1`))
	t.Logf("history kinds: %v", kinds)
	require.Contains(t, kinds, "deposit_unassigned")
	require.Contains(t, outcomes, "deposit_unassigned")
	var archived int
	require.NoError(t, admin.GetContext(ctx, &archived, `SELECT count(*) FROM txhistory.token_holding WHERE archived_offset IS NOT NULL`))
	require.Positive(t, archived)

	// A standby as txhistory_ingest waits for the lock and reads the
	// stored checkpoint (what its metrics show).
	standby, err := ingest.New(ingestDB, client, ingest.Config{Parties: []string{treasury}, Logger: quietLog,
		LockPoll: 20 * time.Millisecond})
	require.NoError(t, err)
	sctx, stopStandby := context.WithCancel(ctx)
	standbyDone := make(chan error, 1)
	go func() { standbyDone <- standby.Run(sctx) }()
	require.Eventually(t, func() bool { return standby.Stats().State == ingest.StateWaitingForLock }, 10*time.Second, 5*time.Millisecond)
	_, err = standby.LedgerEndLag(ctx)
	require.NoError(t, err, "a standby's LedgerEndLag as txhistory_ingest")
	stopStandby()
	require.ErrorIs(t, <-standbyDone, context.Canceled)

	aside, err := ing.SetAsideTransactions(ctx)
	require.NoError(t, err)
	require.Len(t, aside, 1)
	require.Equal(t, bad.UpdateID, aside[0].UpdateID)
	require.NoError(t, ing.ResolveSetAside(ctx, bad.UpdateID, "roles test"), "ResolveSetAside as txhistory_ingest")
	l.stopIngester()

	// Dedup retention, ErrNothingIngested's statements (in a transaction
	// rolled back) and the runbook's plan and rewind, as txhistory_ingest.
	dd, err := dedup.NewStore(schema.DefaultName)
	require.NoError(t, err)
	_, err = dd.PruneBefore(ctx, ingestDB, time.Now().Add(time.Hour))
	require.NoError(t, err, "dedup retention (PruneBefore) as txhistory_ingest")
	tx, err := ingestDB.BeginTxx(ctx, nil)
	require.NoError(t, err)
	for _, q := range []string{`UPDATE txhistory.checkpoint SET ledger_offset = 0`, `DELETE FROM txhistory.synchronizer_time`} {
		_, err = tx.ExecContext(ctx, q)
		require.NoError(t, err, "ErrNothingIngested's statement as txhistory_ingest: %s", q)
	}
	require.NoError(t, tx.Rollback())
	require.NoError(t, recovery.CheckStopped(ctx, ingestDB, ""))
	rw, err := recovery.Plan(ctx, ingestDB, client, recovery.Options{Parties: []string{treasury}, Mode: recovery.ModeNonUnique,
		PollInterval: 5 * time.Millisecond, Timeout: 30 * time.Second, Logger: quietLog})
	require.NoError(t, err, "recovery.Plan as txhistory_ingest")
	require.NoError(t, recovery.Apply(ctx, ingestDB, rw), "recovery.Apply as txhistory_ingest")
	start()
	l.caughtUp()
	l.stopIngester()
	// examples/runbook -yes -since, with the daemon's environment.
	_, err = (&recovery.Runbook{DB: ingestDB, Participant: client, Options: recovery.Options{Parties: []string{treasury},
		Mode: recovery.ModeNonUnique, PollInterval: 5 * time.Millisecond, Timeout: 30 * time.Second, Logger: quietLog},
		PackagesSince: time.Unix(1, 0), Apply: true, Out: io.Discard}).Run(ctx)
	require.NoError(t, err, "the runbook (examples/runbook -yes) as txhistory_ingest")
	rws, err := cps.Rewinds(ctx, ingestDB)
	require.NoError(t, err)
	require.Len(t, rws, 2)
	start()
	l.caughtUp()
	l.stopIngester()

	// The operator's Integration DB restore procedure: the restore as
	// txhistory_owner (here: the history's sequence set back, as
	// pg_restore does), then step 2's renumbering and the gate.
	_, err = svc.Create(ctx, l.request("wd-requested", "1", cids[4]))
	require.NoError(t, err)
	owner := as("txhistory_owner")
	rctx, rcancel := context.WithTimeout(ctx, 15*time.Second)
	defer rcancel()
	moved := false
	rep, err := withdrawal.RestoreProcedure{Store: ops, TSafe: time.Unix(1, 0), PollInterval: time.Millisecond, Logger: quietLog,
		Progress: func(pr withdrawal.RestoreProgress) {
			// Step 2 has recorded the restored request as attempted: the
			// ledger's time moves past its trecTgt (tSafe).
			if pr.Step == withdrawal.StepWait && !moved {
				moved = true
				l.advance(ttl + time.Minute)
			}
		},
		Restore: func(ctx context.Context) error {
			if _, err := owner.ExecContext(ctx, `SELECT setval('txhistory.token_history_id_seq', 1)`); err != nil {
				return err
			}
			start() // ingestion started again, as txhistory_ingest
			return nil
		}}.Run(rctx)
	l.stopIngester()
	require.NoError(t, err, "RestoreProcedure as a txhistory_operator member")
	require.False(t, rep.EnabledAt.IsZero())
	require.NoError(t, tokenstd.RenumberAfterRestore(ctx, opsDB, schema.DefaultName), "RenumberAfterRestore as a txhistory_operator member")
	var attempted bool
	require.NoError(t, admin.GetContext(ctx, &attempted, `SELECT submit_attempted_at IS NOT NULL FROM txhistory.withdrawal WHERE id = 'wd-requested'`))
	require.True(t, attempted, "step 2 records the restored request as attempted")
	require.Equal(t, withdrawal.StatusExpired, l.get("wd-requested").Status)
	require.Contains(t, refunds(t, admin), "wd-requested")
}

// docs/OPERATIONS.md: the Integration DB restore itself (pg_restore into
// the database) needs txhistory_owner or a superuser. Restored as
// txhistory_owner, the way examples/dbrestoredrill restores (a pg_dump
// --schema backup, pg_restore --clean --if-exists --single-transaction
// --exit-on-error), into the database set up as the section says; then the
// roles do their jobs on the restored schema: ingestion as txhistory_ingest
// (with the narrowed grants the backup held), the procedure's renumbering
// as an operator.
func TestIntegrationDBRestoreAsTxhistoryOwner(t *testing.T) {
	pgDump, err1 := exec.LookPath("pg_dump")
	pgRestore, err2 := exec.LookPath("pg_restore")
	if err1 != nil || err2 != nil {
		t.Skip("pg_dump / pg_restore not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	r := documentedRoles(t, ctx)
	admin, as, dsnOf := r.admin, r.as, r.dsnOf
	ingestDB, opsDB := as("txhistory_ingest"), as("alice")
	store, err := withdrawal.NewStore(ingestDB, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(10 * time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	cps, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	l := &live{t: t, ctx: ctx, db: ingestDB, p: p, client: client, world: &ledgertest.TokenWorld{}, store: store, cps: cps}
	t.Cleanup(l.stopIngester)
	l.startIngester()
	l.mint("10", "20")
	l.caughtUp()
	l.stopIngester()

	// tool runs pg_dump or pg_restore as txhistory_owner, its password in
	// PGPASSWORD as examples/dbrestoredrill passes it.
	owner := dsnOf("txhistory_owner")
	tool := func(path string, args ...string) {
		t.Helper()
		conn, pw := owner, ""
		if u, err := url.Parse(owner); err == nil && u.User != nil {
			pw, _ = u.User.Password()
			u.User = url.User(u.User.Username())
			conn = u.String()
		}
		cmd := exec.CommandContext(ctx, path, append([]string{"--dbname=" + conn}, args...)...)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+pw)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s as txhistory_owner: %s", filepath.Base(path), out)
	}
	backup := filepath.Join(t.TempDir(), "integration.dump")
	tool(pgDump, "--format=custom", "--schema="+schema.DefaultName, "--file="+backup)
	l.mint("30")
	l.startIngester()
	l.caughtUp()
	l.stopIngester()
	for _, db := range []*sqlx.DB{ingestDB, opsDB} {
		db.SetMaxIdleConns(0) // pg_restore --clean waits for sessions that read the tables
	}
	tool(pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", backup)
	require.NoError(t, tokenstd.RenumberAfterRestore(ctx, opsDB, schema.DefaultName), "RenumberAfterRestore as a txhistory_operator member")
	requireGrants(ctx, t, admin, map[string]string{"txhistory_ingest": dsnRole(t, dsnOf("txhistory_ingest"))})
	l.startIngester()
	l.caughtUp()
	l.stopIngester()
}

// dsnRole is the user a connection string names.
func dsnRole(t *testing.T, dsn string) string {
	t.Helper()
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.User.Username()
	}
	m := regexp.MustCompile(`user=(\S+)`).FindAllStringSubmatch(dsn, -1)
	require.NotEmpty(t, m)
	return m[len(m)-1][1]
}

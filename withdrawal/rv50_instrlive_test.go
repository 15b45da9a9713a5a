package withdrawal_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// startCrediting starts a tailing Ingester as startIngester does, with a
// History that credits deposits into public.credit (one row per entry: a
// deposit credited twice fails the batch).
func (l *live) startCrediting() {
	l.t.Helper()
	_, err := l.db.ExecContext(l.ctx, `CREATE TABLE IF NOT EXISTS public.credit (
		update_id text, node_id int, account text NOT NULL, amount numeric NOT NULL, PRIMARY KEY (update_id, node_id))`)
	require.NoError(l.t, err)
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog,
		Credit: tokenstd.CreditFunc(func(ctx context.Context, tx *sqlx.Tx, e *tokenstd.Entry) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO public.credit VALUES ($1, $2, $3, $4)`, e.UpdateID, e.NodeID, e.Account, e.Amount.String())
			return err
		})})
	require.NoError(l.t, err)
	rcfg := l.rcfg
	rcfg.History = history
	rec, err := withdrawal.NewReconciler(l.store, rcfg)
	require.NoError(l.t, err)
	log := l.ingLog
	if log == nil {
		log = quietLog
	}
	ing, err := ingest.New(l.db, l.client, ingest.Config{
		Parties: []string{treasury}, Handler: ingest.Handlers(history, rec), Logger: log,
		MaxBatchSize: 2, MaxBatchDelay: time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		LockPoll: 20 * time.Millisecond,
	})
	require.NoError(l.t, err)
	ctx, cancel := context.WithCancel(l.ctx)
	l.stopIng, l.ingDone = cancel, make(chan error, 1)
	go func() { l.ingDone <- ing.Run(ctx) }()
}

// credits returns the deposits credited: account → sum.
func (l *live) credits() map[string]string {
	l.t.Helper()
	var rows []struct {
		Account string `db:"account"`
		Sum     string `db:"total"`
	}
	require.NoError(l.t, l.db.Select(&rows, `SELECT account, sum(amount)::text AS total FROM public.credit GROUP BY account`))
	out := map[string]string{}
	for _, r := range rows {
		out[r.Account] = dec(r.Sum).String()
	}
	return out
}

// requireHistoryMatches compares the history with the ledger's: the
// entries of every transaction on the participant classified in order,
// none missing, none twice; and the history's sum per instrument with the
// treasury's live holdings on the ledger.
func (l *live) requireHistoryMatches() {
	l.t.Helper()
	var onLedger []string
	set := tokenstd.NewHoldingSet()
	for _, tx := range l.p.Transactions() {
		entries, err := tokenstd.Classify(tx, treasury, set)
		require.NoError(l.t, err)
		set.Apply(entries)
		for _, e := range entries {
			onLedger = append(onLedger, fmt.Sprintf("%s %d %s %s %s", e.UpdateID, e.NodeID, e.Kind, e.Amount.String(), e.WithdrawalID))
		}
	}
	var ingested []string
	require.NoError(l.t, l.db.Select(&ingested, `SELECT update_id || ' ' || node_id || ' ' || kind || ' ' || trim_scale(amount)::text || ' ' || withdrawal_id
		FROM txhistory.token_history ORDER BY id`))
	require.ElementsMatch(l.t, onLedger, ingested)
	l.requireBalancesMatch()
	var sums []struct {
		Admin string `db:"instrument_admin"`
		ID    string `db:"instrument_id"`
		Sum   string `db:"total"`
	}
	require.NoError(l.t, l.db.Select(&sums, `SELECT instrument_admin, instrument_id, sum(amount)::text AS total
		FROM txhistory.token_history GROUP BY 1, 2`))
	want := l.world.Balances(treasury)
	require.Len(l.t, sums, len(want))
	for inst, amt := range want {
		found := false
		for _, s := range sums {
			if s.Admin == inst.Admin && s.ID == inst.ID {
				found = true
				require.True(l.t, amt.Equal(dec(s.Sum)), "history of %s sums to %s, the ledger's holdings to %s", inst, s.Sum, amt)
			}
		}
		require.True(l.t, found, "no history of %s", inst)
	}
}

// Incoming two-step deposits: depositors offer transfers to the treasury,
// whose automation accepts some and rejects others; the ingester is
// stopped (a crash: the process ends between two batches) and started
// again, a new History and Reconciler, at every step. Every accepted offer
// is credited once, to the account of its reason; rejected ones never.
func TestIncomingOffersAcrossIngesterCrashes(t *testing.T) {
	l := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{})
	const alice, bob = "alice::1220wd", "bob::1220wd"
	l.append(l.world.Tx(l.world.MintOp(alice, "100"), l.world.MintOp(bob, "100")))
	l.mint("10")
	l.startCrediting()
	l.caughtUp()

	type offer struct {
		tx          *ledger.Transaction
		cid, answer string
	}
	var offers []offer
	for i, from := range []string{alice, bob, alice, bob, alice, bob} {
		tx, cid := l.world.Offer(ledgertest.TransferSpec{Sender: from, Receiver: treasury, Amount: fmt.Sprintf("%d", 5+i),
			Reason: fmt.Sprintf("acct-%d", i%3), Fee: "0.25"})
		answer := "accept"
		if i%3 == 2 {
			answer = "reject"
		}
		offers = append(offers, offer{tx, cid, answer})
	}
	crash := func() {
		l.caughtUp()
		l.stopIngester()
		l.startCrediting()
	}
	for _, o := range offers {
		l.append(o.tx)
		crash()
	}
	pending, err := tokenstd.PendingInstructions(l.ctx, l.db, "txhistory")
	require.NoError(t, err)
	require.Len(t, pending, len(offers))
	for i, o := range offers {
		if o.answer == "accept" {
			l.append(l.world.Accept(o.cid))
		} else {
			l.append(l.world.Reject(o.cid))
		}
		if i%2 == 1 {
			crash()
		}
	}
	l.caughtUp()
	require.Equal(t, map[string]string{"acct-0": "13", "acct-1": "15"}, l.credits())
	pending, err = tokenstd.PendingInstructions(l.ctx, l.db, "txhistory")
	require.NoError(t, err)
	require.Empty(t, pending)
	l.requireHistoryMatches()
}

// The validator node is restored from a backup taken while a withdrawal's
// transfer instruction was pending (or before it was created); the node
// runbook rewinds ingestion to offRecovery; the receiver then answers.
func TestInstructionPendingAcrossNodeRestore(t *testing.T) {
	for _, tc := range []struct {
		name        string
		backupFirst bool // the node backup is taken before the offer
		answer      string
		want        withdrawal.Status
	}{
		{"backup pending/accept", false, "accept", withdrawal.StatusCompleted},
		{"backup pending/reject", false, "reject", withdrawal.StatusRejected},
		{"backup pending/withdraw", false, "withdraw", withdrawal.StatusWithdrawn},
		{"backup pending/expire", false, "expire", withdrawal.StatusExpired},
		{"backup before the offer/accept", true, "accept", withdrawal.StatusCompleted},
		{"backup before the offer/reject", true, "reject", withdrawal.StatusRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{})
			admin, err := ledger.Dial(ledger.Config{
				LedgerAPI: ledger.Endpoint{Target: l.p.Addr(), Insecure: true},
				Admin:     ledger.Endpoint{Target: l.p.AdminAddr(), Insecure: true},
			})
			require.NoError(t, err)
			t.Cleanup(func() { _ = admin.Close() })
			holdings := l.mintAndCatchUp("100", "100")
			w := l.submitted("wd-1", "40", holdings[0])
			var backup ledgertest.Snapshot
			if tc.backupFirst {
				backup = l.p.Backup()
			}
			offer, icid := l.world.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver, Amount: "40",
				InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "0.5"})
			l.append(offer)
			l.advance(time.Second)
			if !tc.backupFirst {
				backup = l.p.Backup()
			}
			l.mint("7") // after the backup too
			l.caughtUp()
			require.Equal(t, withdrawal.StatusPendingAcceptance, l.get("wd-1").Status)

			l.stopIngester()
			l.p.Restore(backup)
			rb := &recovery.Runbook{DB: l.db, Participant: admin, Apply: true, Options: recovery.Options{
				Parties: []string{treasury}, PollInterval: 5 * time.Millisecond, Timeout: 30 * time.Second, Logger: quietLog}}
			_, err = rb.Run(l.ctx)
			require.NoError(t, err)
			l.startIngester()
			l.caughtUp()
			require.Equal(t, withdrawal.StatusPendingAcceptance, l.get("wd-1").Status)

			switch tc.answer {
			case "accept":
				l.append(l.world.Accept(icid))
			case "reject":
				l.append(l.world.Reject(icid))
			case "withdraw":
				l.append(l.world.Withdraw(icid))
			case "expire":
				l.append(l.world.Expire(icid))
			}
			l.advance(time.Second)
			l.caughtUp()
			got := l.get("wd-1")
			require.Equal(t, tc.want, got.Status)
			if tc.want == withdrawal.StatusCompleted {
				requireDec(t, "40", got.Transferred)
				requireDec(t, "0.5", got.Fee)
				require.Empty(t, refunds(t, l.db))
			} else {
				require.Equal(t, map[string]string{"wd-1": "41"}, refunds(t, l.db))
			}
			pending, err := tokenstd.PendingInstructions(l.ctx, l.db, "txhistory")
			require.NoError(t, err)
			require.Empty(t, pending)
			l.requireHistoryMatches()
		})
	}
}

// The Integration DB is restored, with the restore procedure, while a
// withdrawal requested after the backup has a transfer instruction out
// whose deadline passes while the gate is closed: the procedure opens the
// gate past tSafe with the lost request recovered, pending acceptance
// (its deadline passing moves nothing); the instruction is listed as
// pending with its deadline, and the treasury's withdrawal of it, as the
// package doc asks, refunds it once.
func TestInstructionPastDeadlineWhileGateClosed(t *testing.T) {
	pgDump, pgRestore := pgTool(t, "pg_dump"), pgTool(t, "pg_restore")
	db := pgtest.NewDB(t)
	var name string
	require.NoError(t, db.Get(&name, `SELECT current_database()`))
	dsn := pgtest.SharedServer(t).DSN(name)
	l := newLive(t, db, withdrawal.ReconcilerConfig{})
	l.world.Expiry = ttl / 2 // the Submitter's executeBefore: before trecTgt
	holdings := l.mintAndCatchUp("100", "100")
	backup := t.TempDir() + "/integration.dump"
	runTool(l.ctx, t, pgDump, "--format=custom", "--file="+backup, "--dbname="+dsn)

	w := l.submitted("wd-1", "40", holdings[0])
	offer, icid := l.world.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver, Amount: "40",
		InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "0.5"})
	l.append(offer)
	l.caughtUp()
	require.Equal(t, withdrawal.StatusPendingAcceptance, l.get("wd-1").Status)

	restarted := false
	rep, err := withdrawal.RestoreProcedure{
		Store: l.store, TTL: ttl, Now: func() time.Time { return l.now }, PollInterval: 5 * time.Millisecond, Logger: quietLog,
		Restore: func(ctx context.Context) error {
			l.stopIngester()
			runTool(ctx, t, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname="+dsn, backup)
			return tokenstd.RenumberAfterRestore(ctx, db, "txhistory")
		},
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step != withdrawal.StepWait || pr.Done {
				return
			}
			if !restarted {
				restarted = true
				l.startIngester()
				return
			}
			l.advance(ttl / 8) // the instruction's deadline passes meanwhile
		},
	}.Run(l.ctx)
	require.NoError(t, err)
	require.True(t, rep.Ingested.After(rep.TSafe))
	l.caughtUp()
	got := l.get("wd-1")
	require.True(t, got.Recovered)
	require.Equal(t, withdrawal.StatusPendingAcceptance, got.Status, "the deadline passing moves nothing")
	require.Equal(t, icid, got.InstructionCID)
	pending, err := tokenstd.PendingInstructions(l.ctx, db, "txhistory")
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, "wd-1", pending[0].Transfer.Meta[tokenstd.MetaReason])
	require.True(t, pending[0].Transfer.ExecuteBefore.Before(rep.Ingested), "listed with its deadline, passed")

	l.append(l.world.Withdraw(icid)) // the operator, as the package doc asks
	l.caughtUp()
	got = l.get("wd-1")
	require.Equal(t, withdrawal.StatusWithdrawn, got.Status)
	require.Equal(t, map[string]string{"wd-1": "0"}, refunds(t, db), "refunded once (the default hook reserved no user funds)")
	pending, err = tokenstd.PendingInstructions(l.ctx, db, "txhistory")
	require.NoError(t, err)
	require.Empty(t, pending)
	l.requireHistoryMatches()
}

// The ingester replays the treasury's whole history after its dedup rows
// and checkpoint were lost (pruned, or deleted by hand): the creations of
// transfer instructions, their successors and outcomes come again. With
// the Reconciler taking History's entries or reading the table, nothing
// changes: no withdrawal moves, nothing is refunded or credited twice.
func TestInstructionsReplayedAfterDedupLost(t *testing.T) {
	for _, fromTab := range []bool{false, true} {
		t.Run(fmt.Sprintf("from table %t", fromTab), func(t *testing.T) {
			db := pgtest.NewDB(t)
			var rcfg withdrawal.ReconcilerConfig
			if fromTab {
				rcfg.History = fromTable{}
			}
			l := newLive(t, db, rcfg)
			const alice = "alice::1220wd"
			l.append(l.world.Mint(alice, "100"))
			cids := l.mint("80", "80", "80", "80")
			l.startCrediting()
			l.caughtUp()
			offerOf := func(id, amount, holding string) (*ledger.Transaction, string) {
				w := l.submitted(id, amount, holding)
				return l.world.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: amount,
					InputHoldings: w.ReservedHoldings, Reason: id, Fee: "0.5"})
			}
			o1, i1 := offerOf("wd-1", "10", cids[0])
			o2, i2 := offerOf("wd-2", "20", cids[1])
			o3, i3 := offerOf("wd-3", "30", cids[2])
			o4, a := offerOf("wd-4", "40", cids[3])
			kit := newInstrKit(t, l.world, o4, a)
			in, ii := l.world.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1"})
			l.append(o1, o2, o3, o4, in)
			l.append(l.world.Accept(i1), l.world.Reject(i2), l.world.Withdraw(i3))
			l.append(kit.registryAdvance(a, "00instrB", a))
			l.append(l.world.Accept(ii))
			l.caughtUp()
			l.stopIngester()
			before := ledgerSnapshot(t, db)
			credits := l.credits()
			require.Equal(t, map[string]string{"acct-1": "5"}, credits)

			_, err := db.ExecContext(l.ctx, `DELETE FROM txhistory.ingested_update; DELETE FROM txhistory.synchronizer_time; DELETE FROM txhistory.checkpoint`)
			require.NoError(t, err)
			l.startCrediting()
			l.caughtUp()
			require.Equal(t, before, ledgerSnapshot(t, db))
			require.Equal(t, credits, l.credits())
			require.Equal(t, withdrawal.StatusPendingAcceptance, l.get("wd-4").Status)
			require.Equal(t, "00instrB", l.get("wd-4").InstructionCID)

			l.append(kit.acceptOf("00instrB"))
			l.caughtUp()
			require.Equal(t, withdrawal.StatusCompleted, l.get("wd-4").Status)
			require.Equal(t, map[string]string{"wd-2": "21", "wd-3": "31"}, refunds(t, db))
			l.requireBalancesMatch()
		})
	}
}

// An incoming offer the registry advances with its own choices before the
// treasury's acceptance completes it, the ingester restarted between the
// steps: the deposit is credited once, when completed, to the offer's
// account.
func TestIncomingOfferAdvancedAcrossIngesterCrashes(t *testing.T) {
	for _, name := range []string{"choice on the instruction", "choice on the registry's contract"} {
		t.Run(name, func(t *testing.T) {
			advance := instrKit.registryAdvance
			if name != "choice on the instruction" {
				advance = instrKit.registryAdvanceFromRules
			}
			l := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{})
			const alice = "alice::1220wd"
			l.append(l.world.Mint(alice, "100"))
			l.startCrediting()
			l.caughtUp()
			offer, a := l.world.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "25", Reason: "acct-7", Fee: "0.5"})
			kit := newInstrKit(t, l.world, offer, a)
			crash := func() {
				l.caughtUp()
				l.stopIngester()
				l.startCrediting()
			}
			l.append(offer)
			crash()
			l.append(advance(kit, a, "00instrB", a))
			crash()
			pending, err := tokenstd.PendingInstructions(l.ctx, l.db, "txhistory")
			require.NoError(t, err)
			require.Len(t, pending, 1)
			require.Equal(t, "00instrB", pending[0].ContractID)
			require.Empty(t, l.credits())
			l.append(kit.acceptOf("00instrB"))
			crash()
			require.Equal(t, map[string]string{"acct-7": "25"}, l.credits())
			pending, err = tokenstd.PendingInstructions(l.ctx, l.db, "txhistory")
			require.NoError(t, err)
			require.Empty(t, pending)
			l.requireBalancesMatch()
		})
	}
}

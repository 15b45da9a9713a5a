package withdrawal_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// Transfer instructions in flight, both ways, when a disaster strikes: a
// withdrawal's instruction A (the registry advances it to B after the
// backup, and B is accepted), a second withdrawal's instruction (rejected
// after the backup) and two deposit offers to the treasury (one accepted
// after the backup, the other advanced by the registry to D and D
// accepted). The disaster is an Integration DB restore from a backup taken
// while all four were pending, or a validator node restore from such a
// backup after everything was ingested (or with the outcomes committed
// while the ingester was down; or with the runbook's ModeUnique); an
// ingester crash follows. Either way each withdrawal ends in its status
// once, the rejected one refunded once, each deposit credited once, no
// instruction left pending.
func TestInstructionsInFlightAcrossRestores(t *testing.T) {
	for _, disaster := range []string{"integration db", "integration db/one batch from table", "validator node",
		"validator node/outcomes not ingested", "validator node/unique"} {
		t.Run(disaster, func(t *testing.T) {
			// One batch: the replay since the backup comes in one batch of
			// an Ingester that does not credit deposits (MaxBatchSize 16),
			// its Reconciler reading the history from the table.
			oneBatch := disaster == "integration db/one batch from table"
			pgDump, pgRestore := pgTool(t, "pg_dump"), pgTool(t, "pg_restore")
			db := pgtest.NewDB(t)
			var name string
			require.NoError(t, db.Get(&name, `SELECT current_database()`))
			dsn := pgtest.SharedServer(t).DSN(name)
			var rcfg withdrawal.ReconcilerConfig
			if oneBatch {
				rcfg.History = fromTable{}
			}
			l := newLive(t, db, rcfg)
			admin, err := ledger.Dial(ledger.Config{
				LedgerAPI: ledger.Endpoint{Target: l.p.Addr(), Insecure: true},
				Admin:     ledger.Endpoint{Target: l.p.AdminAddr(), Insecure: true},
			})
			require.NoError(t, err)
			t.Cleanup(func() { _ = admin.Close() })
			const alice = "alice::1220wd"
			l.append(l.world.Mint(alice, "100"))
			cids := l.mint("80", "80")
			l.startCrediting()
			l.caughtUp()

			w1 := l.submitted("wd-1", "60", cids[0])
			o1, a := l.world.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "60",
				InputHoldings: w1.ReservedHoldings, Reason: w1.ID, Fee: "0.5"})
			kit := newInstrKit(t, l.world, o1, a)
			w2 := l.submitted("wd-2", "30", cids[1])
			o2, i2 := l.world.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "30",
				InputHoldings: w2.ReservedHoldings, Reason: w2.ID, Fee: "0.5"})
			in, ii := l.world.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1", Fee: "0.25"})
			in2, di := l.world.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "7", Reason: "acct-2", Fee: "0.25"})
			dkit := newInstrKit(t, l.world, in2, di)
			l.append(o1, o2, in, in2)
			l.advance(time.Second)
			l.caughtUp()
			pending, err := tokenstd.PendingInstructions(l.ctx, db, "txhistory")
			require.NoError(t, err)
			require.Len(t, pending, 4)

			file := t.TempDir() + "/integration.dump"
			var node ledgertest.Snapshot
			if strings.HasPrefix(disaster, "integration db") {
				l.stopIngester()
				runTool(l.ctx, t, pgDump, "--format=custom", "--file="+file, "--dbname="+dsn)
				l.startCrediting()
			} else {
				node = l.p.Backup()
			}

			notIngested := disaster == "validator node/outcomes not ingested"
			if notIngested {
				l.stopIngester() // the ingester is down when the outcomes commit
			}
			l.append(kit.registryAdvance(a, "00instrB", a))
			l.append(l.world.Reject(i2))
			l.append(l.world.Accept(ii))
			l.append(kit.acceptOf("00instrB"))
			l.append(dkit.registryAdvanceFromRules(di, "00instrD", di))
			l.append(dkit.acceptOf("00instrD"))
			l.advance(time.Second)
			var before string
			var credits map[string]string
			if !notIngested {
				l.caughtUp()
				before = ledgerSnapshot(t, db)
				credits = l.credits()
				require.Equal(t, map[string]string{"acct-1": "5", "acct-2": "7"}, credits)
				require.Equal(t, withdrawal.StatusCompleted, l.get("wd-1").Status)
				require.Equal(t, withdrawal.StatusRejected, l.get("wd-2").Status)
				l.stopIngester()
			}
			if disaster != "validator node" && !strings.HasPrefix(disaster, "validator node/") {
				runTool(l.ctx, t, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname="+dsn, file)
				require.NoError(t, tokenstd.RenumberAfterRestore(l.ctx, db, "txhistory"))
			} else {
				l.p.Restore(node)
				mode := recovery.ModeNonUnique
				if disaster == "validator node/unique" {
					mode = recovery.ModeUnique
				}
				rb := &recovery.Runbook{DB: db, Participant: admin, Apply: true, Options: recovery.Options{Mode: mode,
					Parties: []string{treasury}, PollInterval: 5 * time.Millisecond, Timeout: 30 * time.Second, Logger: quietLog}}
				_, err = rb.Run(l.ctx)
				require.NoError(t, err)
			}
			start := l.startCrediting
			if oneBatch {
				start = l.startIngester
			}
			start()
			l.advance(time.Second)
			l.caughtUp()
			// A crash and a replay on top: nothing moves again.
			l.stopIngester()
			start()
			l.advance(time.Second)
			l.caughtUp()

			if !notIngested {
				require.Equal(t, before, ledgerSnapshot(t, db))
			}
			if !oneBatch {
				require.Equal(t, map[string]string{"acct-1": "5", "acct-2": "7"}, l.credits())
			}
			got := l.get("wd-1")
			require.Equal(t, withdrawal.StatusCompleted, got.Status)
			require.Equal(t, "00instrB", got.InstructionCID)
			requireDec(t, "60", got.Transferred)
			requireDec(t, "0.5", got.Fee)
			require.Equal(t, withdrawal.StatusRejected, l.get("wd-2").Status)
			require.Equal(t, map[string]string{"wd-2": "31"}, refunds(t, db))
			pending, err = tokenstd.PendingInstructions(l.ctx, db, "txhistory")
			require.NoError(t, err)
			require.Empty(t, pending)
			l.requireHistoryMatches()
		})
	}
}

// The validator node and the Integration DB both restored (the DB backup
// newer or older than the node's), with the restore procedure around both
// and the node runbook inside it, while transfer instructions are in
// flight both ways: wd-1's offered before both backups and accepted after
// them; wd-2's offered between the backups and rejected after them; wd-3
// requested and offered after both backups (lost with the DB: recovered
// pending) and accepted while the gate is closed; a deposit offered before
// both backups and accepted after them, another offered between them and
// accepted while the gate is closed. Each withdrawal ends in its status
// once, wd-2 refunded once, each deposit credited once, nothing pending.
func TestInstructionsInFlightBothRestored(t *testing.T) {
	for _, dbIsNewer := range []bool{true, false} {
		t.Run(map[bool]string{true: "db backup newer", false: "db backup older"}[dbIsNewer], func(t *testing.T) {
			pgDump, pgRestore := pgTool(t, "pg_dump"), pgTool(t, "pg_restore")
			db := pgtest.NewDB(t)
			var name string
			require.NoError(t, db.Get(&name, `SELECT current_database()`))
			dsn := pgtest.SharedServer(t).DSN(name)
			l := newLive(t, db, withdrawal.ReconcilerConfig{})
			ctx := l.ctx
			admin, err := ledger.Dial(ledger.Config{
				LedgerAPI: ledger.Endpoint{Target: l.p.Addr(), Insecure: true},
				Admin:     ledger.Endpoint{Target: l.p.AdminAddr(), Insecure: true},
			})
			require.NoError(t, err)
			t.Cleanup(func() { _ = admin.Close() })
			const alice = "alice::1220wd"
			l.append(l.world.Mint(alice, "100"))
			cids := l.mint("80", "80", "80")
			l.startCrediting()
			l.caughtUp()
			offerOf := func(id, amount, holding string) string {
				w := l.submitted(id, amount, holding)
				tx, icid := l.world.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: amount,
					InputHoldings: w.ReservedHoldings, Reason: id, Fee: "0.5"})
				l.append(tx)
				l.caughtUp()
				return icid
			}
			deposit := func(amount, acct string) string {
				tx, icid := l.world.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: amount, Reason: acct, Fee: "0.25"})
				l.append(tx)
				l.caughtUp()
				return icid
			}

			var nodeBackup ledgertest.Snapshot
			dbBackup := t.TempDir() + "/integration.dump"
			backUpDB := func() { runTool(ctx, t, pgDump, "--format=custom", "--file="+dbBackup, "--dbname="+dsn) }
			i1 := offerOf("wd-1", "10", cids[0])
			d1 := deposit("5", "acct-1")
			if dbIsNewer {
				nodeBackup = l.p.Backup()
			} else {
				backUpDB()
			}
			i2 := offerOf("wd-2", "20", cids[1])
			d2 := deposit("7", "acct-2")
			if dbIsNewer {
				backUpDB()
			} else {
				nodeBackup = l.p.Backup()
			}
			l.append(l.world.Accept(i1))
			l.append(l.world.Reject(i2))
			l.append(l.world.Accept(d1))
			i3 := offerOf("wd-3", "30", cids[2])
			l.advance(time.Minute)
			l.caughtUp()
			require.Equal(t, map[string]string{"acct-1": "5"}, l.credits())

			l.stopIngester()
			l.p.Restore(nodeBackup)
			restarted := false
			polls := 0
			rep, err := withdrawal.RestoreProcedure{
				Store: l.store, TTL: ttl, Now: func() time.Time { return l.now }, PollInterval: 5 * time.Millisecond, Logger: quietLog,
				Restore: func(ctx context.Context) error {
					runTool(ctx, t, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname="+dsn, dbBackup)
					return tokenstd.RenumberAfterRestore(ctx, db, "txhistory")
				},
				Progress: func(pr withdrawal.RestoreProgress) {
					if pr.Step != withdrawal.StepWait {
						return
					}
					if !restarted {
						restarted = true
						rb := &recovery.Runbook{DB: db, Participant: admin, Apply: true, Options: recovery.Options{
							Parties: []string{treasury}, PollInterval: 5 * time.Millisecond, Timeout: 30 * time.Second, Logger: quietLog}}
						_, err := rb.Run(ctx)
						require.NoError(t, err)
						l.startCrediting()
						return
					}
					if pr.Done || pr.Waited == 0 {
						return
					}
					polls++
					if polls == 3 {
						l.append(l.world.Accept(i3), l.world.Accept(d2))
					}
					if polls > 3 && polls%3 == 0 {
						l.advance(ttl / 4)
					}
				},
			}.Run(ctx)
			require.NoError(t, err)
			require.True(t, rep.Ingested.After(rep.TSafe))
			l.caughtUp()

			want := map[string]withdrawal.Status{"wd-1": withdrawal.StatusCompleted, "wd-2": withdrawal.StatusRejected,
				"wd-3": withdrawal.StatusRecovered}
			wantRefund := "21"
			if !dbIsNewer {
				wantRefund = "0" // lost with the DB: recovered, no user funds reserved
			}
			got := map[string]withdrawal.Status{}
			all, err := l.store.ListByStatus(ctx)
			require.NoError(t, err)
			for _, w := range all {
				got[w.ID] = w.Status
			}
			require.Equal(t, want, got)
			require.Equal(t, map[string]string{"wd-2": wantRefund}, refunds(t, db))
			w3 := l.get("wd-3")
			require.True(t, w3.Recovered)
			require.Equal(t, i3, w3.InstructionCID)
			requireDec(t, "30", w3.Transferred)
			requireDec(t, "0.5", w3.Fee)
			require.Equal(t, map[string]string{"acct-1": "5", "acct-2": "7"}, l.credits())
			pending, err := tokenstd.PendingInstructions(ctx, db, "txhistory")
			require.NoError(t, err)
			require.Empty(t, pending)
			l.requireHistoryMatches()
		})
	}
}

// A withdrawal requested after the Integration DB backup whose transfer
// the registry evolves in several steps (offer A, A advanced to B, B to C,
// C accepted) before the restore: the catch-up recovers it from the offer,
// follows it to C and records it paid once, nothing refunded; with the
// default RecoveryHook, the exchange's own (stored by a statement of its
// own), and the Reconciler reading the history from the table.
func TestRegistryChainOfLostRequestWithHookAcrossDBRestore(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hook    bool
		fromTab bool
	}{{"plain", false, false}, {"hook", true, false}, {"from table", false, true}, {"hook/from table", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			pgDump, pgRestore := pgTool(t, "pg_dump"), pgTool(t, "pg_restore")
			db := pgtest.NewDB(t)
			var name string
			require.NoError(t, db.Get(&name, `SELECT current_database()`))
			dsn := pgtest.SharedServer(t).DSN(name)
			var rcfg withdrawal.ReconcilerConfig
			var hooked []withdrawal.Status
			if tc.hook {
				rcfg.Recovery = withdrawal.RecoveryFunc(func(ctx context.Context, tx *sqlx.Tx, o *withdrawal.Outcome) (*withdrawal.Withdrawal, error) {
					hooked = append(hooked, o.Status)
					return withdrawal.RecoverFromLedger(ctx, tx, o)
				})
			}
			if tc.fromTab {
				rcfg.History = fromTable{}
			}
			l := newLive(t, db, rcfg)
			cids := l.mintAndCatchUp("80")
			backup := t.TempDir() + "/integration.dump"
			runTool(l.ctx, t, pgDump, "--format=custom", "--file="+backup, "--dbname="+dsn)

			w := l.submitted("wd-chain", "60", cids[0])
			offer, a := l.world.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "60",
				InputHoldings: cids, Reason: w.ID, Fee: "0.5"})
			kit := newInstrKit(t, l.world, offer, a)
			l.append(offer)
			l.append(kit.registryAdvance(a, "00instrB", a))
			l.append(kit.registryAdvanceFromRules("00instrB", "00instrC", a))
			l.append(kit.acceptOf("00instrC"))
			l.caughtUp()
			require.Equal(t, withdrawal.StatusCompleted, l.get(w.ID).Status)

			l.stopIngester()
			runTool(l.ctx, t, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname="+dsn, backup)
			require.NoError(t, tokenstd.RenumberAfterRestore(l.ctx, db, "txhistory"))
			hooked = nil
			l.startIngester()
			l.caughtUp()
			got := l.get(w.ID)
			require.True(t, got.Recovered)
			require.Equal(t, withdrawal.StatusRecovered, got.Status)
			require.Equal(t, "00instrC", got.InstructionCID)
			requireDec(t, "60", got.Transferred)
			requireDec(t, "0.5", got.Fee)
			require.Empty(t, refunds(t, db))
			if tc.hook {
				require.Equal(t, []withdrawal.Status{withdrawal.StatusPendingAcceptance}, hooked, "the hook is called once, for the offer")
			}
			var outcomes []string
			require.NoError(t, db.Select(&outcomes, `SELECT contract_id || ' ' || COALESCE(outcome, 'open') FROM txhistory.token_instruction ORDER BY created_offset`))
			require.Equal(t, []string{a + " replaced", "00instrB replaced", "00instrC withdrawal"}, outcomes)
			pending, err := tokenstd.PendingInstructions(l.ctx, db, "txhistory")
			require.NoError(t, err)
			require.Empty(t, pending)
			l.requireBalancesMatch()
		})
	}
}

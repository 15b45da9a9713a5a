package withdrawal_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// An exchange installed a release at schema version v, ingested, and now
// upgrades: from every earlier version, with rows in every table of that
// version as its code wrote them, Migrate brings the schema to Latest, the
// rows keep their meaning and the library works on them: the checkpoint and
// record times are kept, dedup refuses the update ids already ingested,
// withdrawals keep their status and reservations, the history lists its
// entries, holdings and pending instructions, and a new withdrawal can be
// created.
func TestUpgradeFromEveryVersionKeepsTheData(t *testing.T) {
	for v := 1; v < schema.Latest(); v++ {
		t.Run(fmt.Sprintf("from%03d", v), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			db := pgtest.NewDB(t)
			require.NoError(t, schema.Migrate(ctx, db, schema.WithTargetVersion(v)))
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
			writeVersion(t, ctx, db, v, t0)

			require.NoError(t, schema.Migrate(ctx, db))
			require.NoError(t, schema.CheckCurrent(ctx, db))

			cps, err := checkpoint.NewStore(schema.DefaultName)
			require.NoError(t, err)
			cp, found, err := cps.Get(ctx, db)
			require.NoError(t, err)
			require.True(t, found)
			require.Equal(t, int64(30), cp.Offset)
			require.Equal(t, "upd-30", cp.UpdateID)
			require.True(t, t0.Add(30*time.Second).Equal(cp.RecordTimeOn("sync::1")), "record time %v", cp.RecordTimes)

			dd, err := dedup.NewStore(schema.DefaultName)
			require.NoError(t, err)
			tx, err := db.BeginTxx(ctx, nil)
			require.NoError(t, err)
			fresh, err := dd.ClaimTx(ctx, tx, []*ledger.Transaction{
				{UpdateID: "upd-10", Offset: 10, RecordTime: t0.Add(10 * time.Second), SynchronizerID: "sync::1"},
				{UpdateID: "upd-31", Offset: 31, RecordTime: t0.Add(31 * time.Second), SynchronizerID: "sync::1"},
			})
			require.NoError(t, err)
			require.NoError(t, tx.Rollback())
			require.Len(t, fresh, 1)
			require.Equal(t, "upd-31", fresh[0].UpdateID, "dedup took an update id ingested before the upgrade")

			if v < 2 {
				return
			}
			entries, err := tokenstd.ListEntries(ctx, db, schema.DefaultName, tokenstd.EntryFilter{})
			require.NoError(t, err)
			require.Len(t, entries, 2)
			require.Equal(t, "upd-10", entries[0].UpdateID)
			require.Equal(t, "100.5", entries[0].Amount.String())
			require.Equal(t, "acct-1", entries[0].Account)
			live, err := tokenstd.LiveHoldings(ctx, db, schema.DefaultName)
			require.NoError(t, err)
			require.Len(t, live, 2)
			pending, err := tokenstd.PendingInstructions(ctx, db, schema.DefaultName)
			require.NoError(t, err)
			require.Len(t, pending, 2)
			for _, in := range pending {
				if in.ContractID == "instr-2" {
					require.Equal(t, "instr-1", in.OriginalInstructionCID)
				}
			}

			if v < 3 {
				return
			}
			store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Logger: quietLog})
			require.NoError(t, err)
			req, err := store.Get(ctx, "wd-requested")
			require.NoError(t, err)
			require.Equal(t, withdrawal.StatusRequested, req.Status)
			require.Equal(t, "60", req.Amount.String())
			if v < 8 { // 008 counts an attempt the build before it did not record
				require.NotNil(t, req.SubmitAttemptedAt, "a withdrawal requested at the upgrade may have been handed to the Submitter")
			}
			done, err := store.Get(ctx, "wd-done")
			require.NoError(t, err)
			require.Equal(t, withdrawal.StatusCompleted, done.Status)
			require.Nil(t, done.SubmitAttemptedAt)
			res, err := store.Reservations(ctx)
			require.NoError(t, err)
			require.Equal(t, map[string]string{"hold-1": "wd-requested"}, res)
			g, err := store.Gate(ctx)
			require.NoError(t, err)
			require.True(t, g.Open())

			_, err = store.Create(ctx, withdrawal.Request{
				ID: "wd-new", UserAccount: "user-new", Amount: dec("5"), Instrument: tokenstd.Instrument{Admin: "admin::1", ID: "Coin"},
				Receiver: external, ReservedHoldings: []string{"hold-2"}, ReservedFunds: dec("6"), TrecTgt: t0.Add(time.Hour),
			})
			require.NoError(t, err)
		})
	}
}

// writeVersion writes, with the SQL of a release at version v, rows in
// every table that version has.
func writeVersion(t *testing.T, ctx context.Context, db *sqlx.DB, v int, t0 time.Time) {
	t.Helper()
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := db.ExecContext(ctx, q, args...)
		require.NoError(t, err, q)
	}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	exec(`INSERT INTO txhistory.checkpoint (ledger_offset, update_id, update_offset, record_time, synchronizer_id) VALUES (30, 'upd-30', 30, $1, 'sync::1')`, at(30))
	exec(`INSERT INTO txhistory.synchronizer_time VALUES ('sync::1', $1, 30)`, at(30))
	for _, o := range []int{10, 20, 30} {
		exec(`INSERT INTO txhistory.ingested_update (update_id, ledger_offset, record_time, synchronizer_id) VALUES ($1, $2, $3, 'sync::1')`, fmt.Sprintf("upd-%d", o), o, at(o))
	}
	exec(`INSERT INTO txhistory.checkpoint_rewind (from_offset, to_offset, mode) VALUES (40, 30, 'manual')`)
	exec(`INSERT INTO txhistory.review_transaction (update_id, ledger_offset, error, resolved_at, resolution) VALUES ('upd-25', 25, 'bad', now(), 'ok')`)
	if v < 2 {
		return
	}
	for i, cid := range []string{"hold-1", "hold-2"} {
		exec(`INSERT INTO txhistory.token_holding (contract_id, instrument_admin, instrument_id, owner, amount, created_offset, created_update_id, created_record_time, created_node_id)
			VALUES ($1, 'admin::1', 'Coin', $2, 100.5, 10, 'upd-10', $3, $4)`, cid, treasury, at(10), i)
	}
	exec(`INSERT INTO txhistory.token_history (update_id, node_id, kind, instrument_admin, instrument_id, ledger_offset, record_time, amount, account, holdings_created)
		VALUES ('upd-10', 0, 'deposit', 'admin::1', 'Coin', 10, $1, 100.5, 'acct-1', '{hold-1}')`, at(10))
	exec(`INSERT INTO txhistory.token_history (update_id, node_id, kind, instrument_admin, instrument_id, ledger_offset, record_time, amount, account, holdings_created)
		VALUES ('upd-20', 0, 'deposit', 'admin::1', 'Coin', 20, $1, 100.5, 'acct-1', '{hold-2}')`, at(20))
	exec(`INSERT INTO txhistory.token_instruction (contract_id, sender, receiver, instrument_admin, instrument_id, amount, status, created_offset, created_update_id, created_record_time, outcome, closed_offset, closed_update_id, closed_record_time)
		VALUES ('instr-1', 'alice::1', $1, 'admin::1', 'Coin', 7, 'TransferPendingReceiverAcceptance', 20, 'upd-20', $2, NULL, NULL, NULL, NULL)`, treasury, at(20))
	exec(`INSERT INTO txhistory.token_instruction (contract_id, sender, receiver, instrument_admin, instrument_id, amount, status, replaces, created_offset, created_update_id, created_record_time)
		VALUES ('instr-2', 'alice::1', $1, 'admin::1', 'Coin', 7, 'TransferPendingInternalWorkflow', 'instr-1', 30, 'upd-30', $2)`, treasury, at(30))
	if v >= 9 { // 009's release writes the view's originalInstructionCid
		exec(`UPDATE txhistory.token_instruction SET original_instruction_cid = 'instr-1' WHERE contract_id = 'instr-2'`)
	}
	if v < 3 {
		return
	}
	exec(`INSERT INTO txhistory.withdrawal (id, user_account, amount, instrument_admin, instrument_id, receiver, reserved_holdings, reserved_funds, trec_tgt, status, created_at, updated_at)
		VALUES ('wd-requested', 'user-1', 60, 'admin::1', 'Coin', $1, '{hold-1}', 61, $2, 'requested', $3, $3)`, external, at(3600), at(25))
	exec(`INSERT INTO txhistory.withdrawal_reservation (contract_id, withdrawal_id) VALUES ('hold-1', 'wd-requested')`)
	exec(`INSERT INTO txhistory.withdrawal (id, user_account, amount, instrument_admin, instrument_id, receiver, reserved_holdings, reserved_funds, trec_tgt, status, update_id, ledger_offset, record_time, transferred, submitted_at, closed_at)
		VALUES ('wd-done', 'user-2', 5, 'admin::1', 'Coin', $1, '{}', 6, $2, 'completed', 'upd-20', 20, $3, 5, $3, $3)`, external, at(3600), at(20))
	exec(`INSERT INTO txhistory.withdrawal_gate_log (enabled, reason) VALUES (true, 'opened')`)
}

package withdrawal_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// restorable is an env whose database can be backed up with pg_dump and
// restored with pg_restore; after a restore, ingestion resumes from the
// backup's checkpoint by handing the handlers the batches since then again.
type restorable struct {
	*env
	dump, restore func()
	backupBatch   int // index in e.batches of the first batch after the backup
	// catchUp makes the replay one batch of everything since the backup,
	// as an ingester catching up reads it.
	catchUp bool
}

func newRestorable(t *testing.T, rcfg withdrawal.ReconcilerConfig) *restorable {
	t.Helper()
	pgDump, pgRestore := pgTool(t, "pg_dump"), pgTool(t, "pg_restore")
	e := newEnv(t, withdrawal.Config{}, rcfg)
	var name string
	require.NoError(t, e.db.Get(&name, `SELECT current_database()`))
	dsn := pgtest.SharedServer(t).DSN(name)
	e.mint("100", "100")
	e.create(e.request("wd-1", "40", e.world.Holdings(treasury)[0].ContractID))
	file := filepath.Join(t.TempDir(), "integration.dump")
	r := &restorable{env: e}
	r.dump = func() {
		runTool(e.ctx, t, pgDump, "--format=custom", "--file="+file, "--dbname="+dsn)
		r.backupBatch = len(e.batches)
	}
	r.restore = func() {
		runTool(e.ctx, t, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname="+dsn, file)
		require.NoError(t, tokenstd.RenumberAfterRestore(e.ctx, e.db, schema.DefaultName))
		// Ingestion resumes from the backup's checkpoint: the batches since
		// then come again, in the same order.
		since := e.batches[r.backupBatch:]
		if r.catchUp {
			one := &ingest.Batch{FromOffset: since[0].FromOffset, ToOffset: since[len(since)-1].ToOffset,
				RecordTimes: since[len(since)-1].RecordTimes}
			for _, b := range since {
				one.Transactions = append(one.Transactions, b.Transactions...)
				one.Checkpoints = append(one.Checkpoints, b.Checkpoints...)
			}
			since = []*ingest.Batch{one}
		}
		for _, b := range since {
			require.NoError(t, e.run(b))
		}
	}
	return r
}

// requireBooks compares the Integration DB with the ledger: the treasury's
// balances in the holding set with its live holdings on the ledger, and
// the history's entries summed per instrument with those balances (every
// holding came through an entry).
func (e *env) requireBooks() {
	e.t.Helper()
	got, err := tokenstd.Balances(e.ctx, e.db, schema.DefaultName)
	require.NoError(e.t, err)
	want := e.world.Balances(treasury)
	require.Len(e.t, got, len(want))
	for inst, amt := range want {
		require.True(e.t, amt.Equal(got[instrument(inst)]), "balance of %s: ledger %s, holding set %s", inst, amt, got[instrument(inst)])
	}
	var sums []struct {
		Admin string `db:"instrument_admin"`
		ID    string `db:"instrument_id"`
		Sum   string `db:"total"`
	}
	require.NoError(e.t, e.db.Select(&sums, `SELECT instrument_admin, instrument_id, sum(amount)::text AS total
		FROM txhistory.token_history GROUP BY 1, 2`))
	require.Len(e.t, sums, len(want))
	for _, s := range sums {
		inst := tokenstd.Instrument{Admin: s.Admin, ID: s.ID}
		require.True(e.t, dec(s.Sum).Equal(got[inst]), "history of %v sums to %s, holding set %s", inst, s.Sum, got[inst])
	}
}

// kinds counts the history entries of each kind naming the withdrawal.
func (e *env) kinds(id string) map[string]int {
	e.t.Helper()
	var rows []struct {
		Kind string `db:"kind"`
		N    int    `db:"n"`
	}
	require.NoError(e.t, e.db.Select(&rows, `SELECT kind, count(*) AS n FROM txhistory.token_history
		WHERE withdrawal_id = $1 GROUP BY kind`, id))
	out := map[string]int{}
	for _, r := range rows {
		out[r.Kind] = r.N
	}
	return out
}

// The Integration DB is restored to a backup taken while a withdrawal's
// transfer instruction was pending acceptance (or before it was even
// ingested, or before its request was written); the receiver's answer
// comes after the backup, and ingestion replays everything since.
func TestInstructionOutcomeAcrossDBRestore(t *testing.T) {
	type step func(w *ledgertest.TokenWorld, icid string) *ledger.Transaction
	for _, tc := range []struct {
		name    string
		outcome step
		status  withdrawal.Status
		paid    bool
	}{
		{"accepted", (*ledgertest.TokenWorld).Accept, withdrawal.StatusCompleted, true},
		{"rejected", (*ledgertest.TokenWorld).Reject, withdrawal.StatusRejected, false},
		{"withdrawn", (*ledgertest.TokenWorld).Withdraw, withdrawal.StatusWithdrawn, false},
		{"expired", (*ledgertest.TokenWorld).Expire, withdrawal.StatusExpired, false},
	} {
		for _, when := range []string{"pending", "submitted", "lost", "pending/catch-up", "submitted/catch-up", "lost/catch-up",
			"lost/from-table", "lost/catch-up/from-table"} {
			t.Run(tc.name+"/backup "+when, func(t *testing.T) {
				var rcfg withdrawal.ReconcilerConfig
				var fromTab bool
				if when, fromTab = strings.CutSuffix(when, "/from-table"); fromTab {
					rcfg.History = fromTable{}
				}
				r := newRestorable(t, rcfg) // wd-1 of 40 requested from holdings[0]
				when, r.catchUp = strings.CutSuffix(when, "/catch-up")
				if when == "lost" {
					r.dump()
				}
				holdings := []string{}
				for _, h := range r.world.Holdings(treasury) {
					holdings = append(holdings, h.ContractID)
				}
				w := r.get("wd-1")
				if when == "lost" {
					w = r.create(r.request("wd-2", "30", holdings[1]))
				}
				_, err := r.store.MarkSubmitted(r.ctx, w.ID)
				require.NoError(t, err)
				if when == "submitted" {
					r.dump()
				}
				offer, icid := r.offer(w, "0.5")
				r.apply(offer)
				require.Equal(t, withdrawal.StatusPendingAcceptance, r.get(w.ID).Status)
				if when == "pending" {
					r.dump()
				}
				r.apply(tc.outcome(r.world, icid))
				before := ledgerSnapshot(t, r.db)
				final := r.get(w.ID)
				r.requireBooks()

				r.restore()
				after := r.get(w.ID)
				r.requireBooks()
				if when != "lost" {
					require.Equal(t, before, ledgerSnapshot(t, r.db), "the replay since the backup did not bring back what was")
				} else {
					require.True(t, after.Recovered)
					want := tc.status
					if tc.paid {
						want = withdrawal.StatusRecovered
					}
					require.Equal(t, want, after.Status)
					require.Equal(t, final.UpdateID, after.UpdateID)
					requireDec(t, "30", after.Amount)
					if tc.paid {
						requireDec(t, "30", after.Transferred)
						requireDec(t, "0.5", after.Fee)
						require.NotContains(t, refunds(t, r.db), w.ID)
					} else {
						require.True(t, after.Transferred.IsZero(), "transferred %s", after.Transferred)
						// Refunded once: the default hook reserved no user funds.
						require.Equal(t, "0", refunds(t, r.db)[w.ID])
					}
				}
				kinds := r.kinds(w.ID)
				require.Equal(t, 1, kinds[string(tokenstd.KindOfferOut)], "%v", kinds)
				require.Len(t, kinds, 2, "%v", kinds)
				if tc.paid {
					require.Equal(t, 1, kinds[string(tokenstd.KindWithdrawal)], "%v", kinds)
				}
				res, err := r.store.Reservations(r.ctx)
				require.NoError(t, err)
				require.NotContains(t, res, w.ReservedHoldings[0])
			})
		}
	}
}

// ledgerSnapshot is snapshot without the database's clock times, which a
// replay sets anew.
func ledgerSnapshot(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	var parts []string
	for _, q := range []string{
		`SELECT (row_to_json(w)::jsonb - '{created_at,updated_at,closed_at,submitted_at,submit_attempted_at}'::text[])::text
			FROM txhistory.withdrawal w ORDER BY id`,
		`SELECT contract_id || ' ' || withdrawal_id FROM txhistory.withdrawal_reservation ORDER BY 1`,
		`SELECT row_to_json(r)::text FROM public.refund r ORDER BY withdrawal_id`,
		`SELECT (row_to_json(h)::jsonb - '{id,seq}'::text[])::text FROM txhistory.token_history h ORDER BY update_id, node_id, kind`,
		`SELECT row_to_json(h)::text FROM txhistory.token_holding h ORDER BY contract_id`,
		`SELECT row_to_json(i)::text FROM txhistory.token_instruction i ORDER BY contract_id`,
	} {
		var rows []string
		require.NoError(t, db.Select(&rows, q))
		parts = append(parts, strings.Join(rows, "\n"))
	}
	return strings.Join(parts, "\n--\n")
}

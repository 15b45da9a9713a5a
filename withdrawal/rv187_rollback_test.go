package withdrawal_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// rv187Rig is an Integration DB filled through the library's own paths:
// the real Ingester (History and Reconciler) over a fake participant, and
// withdrawal requests through the Store in every status.
type rv187Rig struct {
	*live
	cids      []string
	pendingA  string // wd-pending's open instruction
	chainKit  instrKit
	chainA    string // wd-chain's first instruction, advanced to 00rv187B
	updateIDs []string
}

func (r *rv187Rig) add(txs ...*ledger.Transaction) {
	r.t.Helper()
	for _, tx := range r.append(txs...) {
		r.updateIDs = append(r.updateIDs, tx.UpdateID)
	}
}

func rv187Fill(t *testing.T) *rv187Rig {
	t.Helper()
	r := &rv187Rig{live: newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{})}
	var ops []ledgertest.TokenOp
	for range 11 {
		op := r.world.MintOp(treasury, "10")
		ops = append(ops, op)
		r.cids = append(r.cids, op.Created[0].ContractID)
	}
	r.add(r.world.Tx(ops...))
	r.startIngester()
	r.caughtUp()
	spec := func(w *withdrawal.Withdrawal) ledgertest.TransferSpec {
		return ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver, Amount: w.Amount.String(),
			InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "0.5"}
	}

	// Expired first: the record time passes its trecTgt.
	r.submitted("wd-expired", "5", r.cids[4])
	r.advance(ttl + time.Second)
	r.caughtUp()

	w := r.submitted("wd-completed", "5", r.cids[0])
	r.add(r.world.Transfer(spec(w)))
	w = r.submitted("wd-pending", "5", r.cids[1])
	tx, a := r.world.Offer(spec(w))
	r.pendingA = a
	r.add(tx)
	w = r.submitted("wd-rejected", "5", r.cids[2])
	tx, a = r.world.Offer(spec(w))
	r.add(tx)
	r.add(r.world.Reject(a))
	w = r.submitted("wd-withdrawn", "5", r.cids[3])
	tx, a = r.world.Offer(spec(w))
	r.add(tx)
	r.add(r.world.Withdraw(a))
	_, err := r.store.Create(r.ctx, r.request("wd-failed", "5", r.cids[5]))
	require.NoError(t, err)
	_, err = r.store.MarkFailed(r.ctx, "wd-failed", "no transfer pre-approval")
	require.NoError(t, err)
	_, err = r.store.Create(r.ctx, r.request("wd-requested", "5", r.cids[6]))
	require.NoError(t, err)
	r.submitted("wd-submitted", "5", r.cids[7])
	// A transfer whose request the Integration DB never had: recovered.
	r.add(r.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "4",
		InputHoldings: []string{r.cids[8]}, Reason: "wd-lost"}))
	// A deposit.
	r.append(r.world.Mint(external, "30")) // not the treasury's: not delivered
	r.add(r.world.Transfer(ledgertest.TransferSpec{Sender: external, Receiver: treasury, Amount: "12", Reason: "acct-1"}))
	// A transfer a registry evolves in steps: offer A, advanced to B.
	w = r.submitted("wd-chain", "5", r.cids[9])
	tx, a = r.world.Offer(spec(w))
	r.chainKit, r.chainA = newInstrKit(t, r.world, tx, a), a
	r.add(tx)
	r.caughtUp()
	r.add(r.chainKit.registryAdvance(a, "00rv187B", a))
	r.caughtUp()

	for id, want := range map[string]withdrawal.Status{
		"wd-expired": withdrawal.StatusExpired, "wd-completed": withdrawal.StatusCompleted, "wd-pending": withdrawal.StatusPendingAcceptance,
		"wd-rejected": withdrawal.StatusRejected, "wd-withdrawn": withdrawal.StatusWithdrawn, "wd-failed": withdrawal.StatusFailed,
		"wd-requested": withdrawal.StatusRequested, "wd-submitted": withdrawal.StatusSubmitted, "wd-lost": withdrawal.StatusRecovered,
		"wd-chain": withdrawal.StatusPendingAcceptance,
	} {
		require.Equal(t, want, r.get(id).Status, id)
	}
	return r
}

// rv187Dump renders every row of every txhistory table but the migration
// table, one JSON object per row, keyed by table.
func rv187Dump(t *testing.T, r *rv187Rig) map[string][]map[string]any {
	t.Helper()
	var tables []string
	require.NoError(t, r.db.Select(&tables, `SELECT tablename FROM pg_tables WHERE schemaname = 'txhistory' AND tablename <> 'txhistory_migration' ORDER BY 1`))
	out := map[string][]map[string]any{}
	for _, tb := range tables {
		var rows []string
		require.NoError(t, r.db.Select(&rows, `SELECT row_to_json(t)::text FROM txhistory.`+tb+` t ORDER BY t`))
		for _, row := range rows {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(row), &m))
			out[tb] = append(out[tb], m)
		}
	}
	return out
}

func rv187Indexes(t *testing.T, r *rv187Rig) []string {
	t.Helper()
	var out []string
	require.NoError(t, r.db.Select(&out, `SELECT indexdef FROM pg_indexes WHERE schemaname = 'txhistory' ORDER BY 1`))
	return out
}

// TestRV187RollBackOneVersionAndForward: for each version N, an
// Integration DB at Latest with rows in every table, written by the
// library, is migrated down to N-1 with an ingester running (as a newer
// release's left running would be), then up again; the down must work with
// the data there, the ingester must stop with ErrNotMigrated, the rows
// must come back as they were but for what docs/OPERATIONS.md says going
// below N drops, and ingestion must resume from the checkpoint without
// duplicates or gaps.
func TestRV187RollBackOneVersionAndForward(t *testing.T) {
	for n := schema.Latest(); n >= 4; n-- {
		t.Run(fmt.Sprintf("below%03d", n), func(t *testing.T) { rv187RoundTrip(t, n) })
	}
}

func rv187RoundTrip(t *testing.T, n int) {
	r := rv187Fill(t)
	before := rv187Dump(t, r)
	idxBefore := rv187Indexes(t, r)
	parties := before["checkpoint"][0]["parties"]
	require.NotNil(t, parties)

	require.NoError(t, schema.Migrate(r.ctx, r.db, schema.WithTargetVersion(n-1)), "migrating down to %d with data", n-1)
	v, err := schema.CheckVersion(r.ctx, r.db)
	require.NoError(t, err)
	require.Equal(t, n-1, v)
	err = schema.CheckCurrent(r.ctx, r.db)
	require.ErrorIs(t, err, schema.ErrNotMigrated)
	require.Contains(t, err.Error(), fmt.Sprintf("version %03d", n-1))
	// The ingester left running stops at its next batch.
	r.add(r.world.Mint(treasury, "1"))
	select {
	case err := <-r.ingDone:
		r.stopIng = nil
		require.ErrorIs(t, err, schema.ErrNotMigrated)
	case <-time.After(20 * time.Second):
		t.Fatal("the ingester went on with a schema migrated down below it")
	}
	// Down again is a no-op.
	require.NoError(t, schema.Migrate(r.ctx, r.db, schema.WithTargetVersion(n-1)))

	require.NoError(t, schema.Migrate(r.ctx, r.db), "migrating up again from %d", n-1)
	require.NoError(t, schema.CheckCurrent(r.ctx, r.db))
	after := rv187Dump(t, r)
	require.Equal(t, idxBefore, rv187Indexes(t, r), "indexes after down to %d and up", n-1)

	// What going below n drops (docs/OPERATIONS.md), removed from both
	// sides before comparing; checked on its own.
	lost := map[string][]string{}
	if n <= 10 {
		lost["checkpoint"] = append(lost["checkpoint"], "parties")
		require.Nil(t, after["checkpoint"][0]["parties"])
	}
	if n <= 8 {
		lost["withdrawal"] = append(lost["withdrawal"], "submit_attempted_at")
		for _, w := range after["withdrawal"] {
			require.Equal(t, w["status"] == "requested", w["submit_attempted_at"] != nil, "%v", w)
		}
	}
	if n <= 7 {
		lost["withdrawal"] = append(lost["withdrawal"], "ledger_node_id", "ledger_synchronizer_id")
	}
	for tb, cols := range lost {
		for _, side := range []map[string][]map[string]any{before, after} {
			for _, row := range side[tb] {
				for _, c := range cols {
					delete(row, c)
				}
			}
		}
	}
	for tb := range before {
		require.Equal(t, before[tb], after[tb], "table %s after down to %d and up", tb, n-1)
	}
	require.Equal(t, len(before), len(after))

	// Ingestion resumes: wd-pending's offer accepted, wd-submitted paid,
	// the chain advanced again and accepted, a new deposit.
	r.startIngester()
	r.add(r.world.Accept(r.pendingA))
	sub := r.get("wd-submitted")
	r.add(r.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: sub.Receiver, Amount: sub.Amount.String(),
		InputHoldings: sub.ReservedHoldings, Reason: sub.ID}))
	r.add(r.chainKit.registryAdvance("00rv187B", "00rv187C", r.chainA))
	r.caughtUp()
	r.add(r.chainKit.acceptOf("00rv187C"))
	r.add(r.world.Transfer(ledgertest.TransferSpec{Sender: external, Receiver: treasury, Amount: "3", Reason: "acct-2"}))
	r.caughtUp()
	r.stopIngester()

	require.Equal(t, withdrawal.StatusCompleted, r.get("wd-pending").Status)
	require.Equal(t, withdrawal.StatusCompleted, r.get("wd-submitted").Status)
	require.Equal(t, withdrawal.StatusCompleted, r.get("wd-chain").Status)
	require.Equal(t, withdrawal.StatusRequested, r.get("wd-requested").Status)
	r.requireBalancesMatch()
	// The history before the round trip as it was, the new entries after it.
	resumed := rv187Dump(t, r)
	require.Equal(t, parties, resumed["checkpoint"][0]["parties"], "parties recorded again by the first start")
	n0 := len(after["token_history"])
	require.Equal(t, after["token_history"], resumed["token_history"][:n0], "history entries before the round trip changed")
	// Every update on the ledger ingested once.
	var ingested []string
	require.NoError(t, r.db.Select(&ingested, `SELECT update_id FROM txhistory.ingested_update ORDER BY 1`))
	want := slices.Clone(r.updateIDs)
	slices.Sort(want)
	require.Equal(t, want, ingested)
	var kinds []string
	for _, e := range resumed["token_history"][n0:] {
		kinds = append(kinds, e["kind"].(string))
	}
	require.Equal(t, "deposit", kinds[len(kinds)-1], "kinds after the round trip: %s", strings.Join(kinds, " "))

}

// TestRV187RollBackBelowTheTablesAndForward: going below 003 drops the
// withdrawals, below 002 the token standard tables too, while the
// checkpoint stays (docs/OPERATIONS.md): up again, ingestion resumes from
// the checkpoint without them. A withdrawal's transfer after it is
// recovered, the gate is open whatever it was, and the history and
// holdings start at the checkpoint.
func TestRV187RollBackBelowTheTablesAndForward(t *testing.T) {
	for _, n := range []int{3, 2} {
		t.Run(fmt.Sprintf("below%03d", n), func(t *testing.T) {
			r := rv187Fill(t)
			r.stopIngester()
			err := r.store.Disable(r.ctx, "closed before the rollback")
			require.NoError(t, err)
			before := rv187Dump(t, r)
			require.NoError(t, schema.Migrate(r.ctx, r.db, schema.WithTargetVersion(n-1)))
			require.NoError(t, schema.Migrate(r.ctx, r.db))
			after := rv187Dump(t, r)
			delete(before["checkpoint"][0], "parties") // below 010
			delete(after["checkpoint"][0], "parties")
			for tb, rows := range after {
				switch {
				case strings.HasPrefix(tb, "withdrawal_gate"):
				case strings.HasPrefix(tb, "withdrawal"), n == 2 && strings.HasPrefix(tb, "token_"):
					require.Empty(t, rows, tb)
				default:
					require.Equal(t, before[tb], rows, tb)
				}
			}
			g, err := r.store.Gate(r.ctx)
			require.NoError(t, err)
			require.True(t, g.Open(), "gate after 003 again: %+v", g)

			r.startIngester()
			r.add(r.world.Accept(r.pendingA))
			r.add(r.chainKit.acceptOf("00rv187B")) // the world took the chain as accepted already
			r.add(r.world.Transfer(ledgertest.TransferSpec{Sender: external, Receiver: treasury, Amount: "3", Reason: "acct-2"}))
			r.caughtUp()
			r.stopIngester()
			var ingested []string
			require.NoError(t, r.db.Select(&ingested, `SELECT update_id FROM txhistory.ingested_update ORDER BY 1`))
			want := slices.Clone(r.updateIDs)
			slices.Sort(want)
			require.Equal(t, want, ingested)
			var hist int
			require.NoError(t, r.db.Get(&hist, `SELECT count(*) FROM txhistory.token_history`))
			if n == 3 {
				require.Equal(t, withdrawal.StatusRecovered, r.get("wd-pending").Status)
				require.Equal(t, withdrawal.StatusRecovered, r.get("wd-chain").Status)
				require.Equal(t, len(before["token_history"])+3, hist)
				r.requireBalancesMatch()
			} else {
				require.Equal(t, 1, hist, "the history after 002 again: the deposit after the checkpoint only")
				_, err := r.store.Get(r.ctx, "wd-pending")
				require.ErrorIs(t, err, withdrawal.ErrNotFound, "the accepted offer's instruction is not stored: no withdrawal outcome")
			}
		})
	}
}

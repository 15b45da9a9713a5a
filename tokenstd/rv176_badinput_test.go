package tokenstd_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// Malformed numerics and views the classify-level tables cover, here
// through the Ingester with the History and the Reconciler chained: under
// PoisonHalt Run stops naming the offset and the update id and the
// deposits before stay booked; under PoisonSetAside the review row names
// them and the rest is booked.
func TestRV176MalformedValuesThroughTheIngester(t *testing.T) {
	amount := func(v ledger.Value) func(t testing.TB, tx *ledger.Transaction) {
		return func(t testing.TB, tx *ledger.Transaction) {
			h := treasuryCreated(tx)
			h.InterfaceViews[0].Value = editValue(t, h.InterfaceViews[0].Value, []string{"amount"}, setTo(v))
		}
	}
	cases := []struct {
		name  string
		spoil func(t testing.TB, tx *ledger.Transaction)
		want  string
	}{
		{"amount empty", amount(ledger.Numeric("")), "malformed numeric"},
		{"amount 1e5", amount(ledger.Numeric("1e5")), "malformed numeric"},
		{"amount negative", amount(ledger.Numeric("-5")), "negative amount"},
		{"amount of 39 digits", amount(ledger.Numeric(strings.Repeat("9", 39))), "more than 38 digits"},
		{"unknown template, holding view malformed", func(t testing.TB, tx *ledger.Transaction) {
			h := treasuryCreated(tx)
			h.TemplateID.ModuleName, h.TemplateID.EntityName = "Unknown.Token", "Coin"
			h.InterfaceViews[0].Value = editValue(t, h.InterfaceViews[0].Value, []string{"owner"}, setTo(ledger.Text(treasury)))
		}, "owner"},
	}
	for _, c := range cases {
		for _, policy := range []ingest.PoisonPolicy{ingest.PoisonHalt, ingest.PoisonSetAside} {
			t.Run(fmt.Sprintf("%s/policy %d", c.name, policy), func(t *testing.T) {
				r := newBrokenRig(t)
				d1, d2, d3, d4 := r.deposit(1, "1"), r.deposit(2, "2"), r.deposit(3, "3"), r.deposit(4, "4")
				r.s.script(2, txItem(d1), txItem(d2))
				require.NoError(t, r.runTo(policy, 2, 1))
				bad := copyTx(d3)
				c.spoil(t, bad)
				r.s.script(4, txItem(d1), txItem(d2), txItem(bad), txItem(d4))
				err := r.runTo(policy, 4, 0)
				if policy == ingest.PoisonHalt {
					t.Logf("Run: %.300v", err)
					require.ErrorContains(t, err, c.want)
					require.Contains(t, err.Error(), "offset 3")
					require.Contains(t, err.Error(), bad.UpdateID)
					require.Equal(t, int64(2), r.checkpoint())
					require.Equal(t, 2, r.deposits())
					require.Equal(t, 2, r.count(`SELECT count(*) FROM tokens.token_holding`))
					return
				}
				require.NoError(t, err)
				require.Equal(t, int64(4), r.checkpoint())
				require.Equal(t, 3, r.deposits())
				var why, id string
				require.NoError(t, r.b.db.QueryRow(`SELECT error, update_id FROM tokens.review_transaction WHERE ledger_offset = 3`).Scan(&why, &id))
				require.Contains(t, why, c.want)
				require.Equal(t, bad.UpdateID, id)
			})
		}
	}
}

// The treasury's own TransferInstruction (its offer, locking its funds)
// whose status is a constructor this release does not know (a newer
// standard): Run stops naming the offset and update id, or sets it aside,
// and what was booked before stays. (Another party's offer to the
// treasury with such a view is ignored by design: see mayBeTreasurys.)
func TestRV176UnknownInstructionStatus(t *testing.T) {
	for _, policy := range []ingest.PoisonPolicy{ingest.PoisonHalt, ingest.PoisonSetAside} {
		t.Run(fmt.Sprintf("policy %d", policy), func(t *testing.T) {
			r := newBrokenRig(t)
			d1, d2 := r.deposit(1, "1"), r.deposit(2, "2")
			offer := ledgertest.TokenProjection(r.w.Tx(r.w.OfferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "1"})), treasury)
			offer.Offset, offer.UpdateID, offer.SynchronizerID = 3, "u3", r.sync
			offer.RecordTime = d2.RecordTime.Add(1e9)
			offer.EffectiveAt = offer.RecordTime
			spoiled := false
			for _, ev := range offer.Events {
				c, ok := ev.(*ledger.CreatedEvent)
				if !ok {
					continue
				}
				for i, v := range c.InterfaceViews {
					if v.InterfaceID.EntityName == "TransferInstruction" {
						c.InterfaceViews[i].Value = editValue(t, v.Value, []string{"status"}, func(st ledger.Value) (ledger.Value, bool) {
							var idp *ledger.Identifier
							if id, ok := st.TypeID(); ok {
								idp = &id
							}
							return ledger.Variant(idp, "TransferPendingSomethingNew", ledger.Unit()), true
						})
						spoiled = true
					}
				}
			}
			require.True(t, spoiled, "no TransferInstruction view in the offer")
			d4 := r.deposit(4, "4")
			r.s.script(2, txItem(d1), txItem(d2))
			require.NoError(t, r.runTo(policy, 2, 1))
			r.s.script(4, txItem(d1), txItem(d2), txItem(offer), txItem(d4))
			err := r.runTo(policy, 4, 0)
			if policy == ingest.PoisonHalt {
				t.Logf("Run: %.300v", err)
				require.ErrorContains(t, err, "TransferPendingSomethingNew")
				require.Contains(t, err.Error(), "offset 3")
				require.Contains(t, err.Error(), offer.UpdateID)
				require.Equal(t, int64(2), r.checkpoint())
				require.Equal(t, 2, r.deposits())
				return
			}
			require.NoError(t, err)
			require.Equal(t, int64(4), r.checkpoint())
			require.Equal(t, 3, r.deposits())
			require.Equal(t, 1, r.count(`SELECT count(*) FROM tokens.review_transaction WHERE ledger_offset = 3 AND update_id = 'u3'`))
		})
	}
}

// The database goes away in the middle of a batch (every session of the
// Ingester ended, as a restart or failover does), with the History and the
// Reconciler chained: Run retries, sets nothing aside under either policy
// and books every deposit once.
func TestRV176DatabaseGoneMidBatch(t *testing.T) {
	for _, after := range []bool{false, true} {
		for _, policy := range []ingest.PoisonPolicy{ingest.PoisonHalt, ingest.PoisonSetAside} {
			t.Run(fmt.Sprintf("after history %v/policy %d", after, policy), func(t *testing.T) {
				r := newRig(t)
				w := &ledgertest.TokenWorld{}
				r.append(w.Mint(alice, "1000"))
				for i := range 6 {
					r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: fmt.Sprint(i + 1), Reason: "acct-1"}))
				}
				history, rec := chained(t, r)
				var kills atomic.Int32
				kill := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
					if len(b.Transactions) == 0 || b.ToOffset < 4 || !kills.CompareAndSwap(0, 1) {
						return nil
					}
					// Every session of the database, this one last.
					_, err := tx.ExecContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
						WHERE datname = current_database() AND backend_type = 'client backend'`)
					_ = err // the statement may or may not see its own end
					return nil
				})
				if after {
					r.handler = ingest.Handlers(history, kill, rec)
				} else {
					r.handler = ingest.Handlers(kill, history, rec)
				}
				require.NoError(t, runAfterRestart(r, policy))
				require.Equal(t, int32(1), kills.Load(), "the database was not ended")
				require.Equal(t, r.p.LedgerEnd(), r.checkpoint())
				require.Zero(t, r.count(`SELECT count(*) FROM tokens.review_transaction`), "a transaction set aside because the database went away")
				require.Equal(t, 6, r.count(`SELECT count(*) FROM tokens.token_history WHERE kind = 'deposit'`))
				require.Equal(t, 6, r.count(`SELECT count(*) FROM tokens.ingested_update u JOIN tokens.token_history h USING (update_id) WHERE h.kind = 'deposit'`))
			})
		}
	}
}

// The database goes away under PoisonSetAside in the first batch after a
// bad transaction (while a rejected batch is handed over one transaction
// at a time, when the stream brought them together): the good
// transaction is not set aside for it; the batch is retried, the bad one
// set aside once and every good deposit booked once.
func TestRV176DatabaseGoneWhileSettingAside(t *testing.T) {
	r := newRig(t)
	w := &ledgertest.TokenWorld{}
	r.append(w.Mint(alice, "1000"))
	r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "1", Reason: "acct-1"}))
	tx := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "2", Reason: "acct-1"})
	h := treasuryHolding(t, tx)
	h.InterfaceViews[0].Value = editValue(t, h.InterfaceViews[0].Value, []string{"amount"}, setTo(ledger.Numeric("-2")))
	bad := r.append(tx)[0]
	for i := range 3 {
		r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: fmt.Sprint(i + 3), Reason: "acct-1"}))
	}
	history, rec := chained(t, r)
	var kills atomic.Int32
	kill := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
		// The first batch after the bad transaction: the split's turn of
		// a good one when the stream brought them in one batch, else the
		// next batch.
		if len(b.Transactions) == 0 || b.Transactions[len(b.Transactions)-1].Offset <= bad.Offset || !kills.CompareAndSwap(0, 1) {
			return nil
		}
		_, _ = tx.ExecContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND backend_type = 'client backend'`)
		return nil
	})
	r.handler = ingest.Handlers(history, kill, rec)
	require.NoError(t, runAfterRestart(r, ingest.PoisonSetAside))
	require.Equal(t, int32(1), kills.Load(), "the database was not ended")
	require.Equal(t, r.p.LedgerEnd(), r.checkpoint())
	var aside []string
	require.NoError(t, r.b.db.Select(&aside, `SELECT update_id FROM tokens.review_transaction`))
	require.Equal(t, []string{bad.UpdateID}, aside)
	require.Equal(t, 4, r.count(`SELECT count(*) FROM tokens.token_history WHERE kind = 'deposit'`), "the good deposits, once")
}

// runAfterRestart is rig.run with room for the retries a restart costs: a
// retry may draw another of the pool's dead connections before a new one
// (rig.run gives up after two attempts).
func runAfterRestart(r *rig, policy ingest.PoisonPolicy) error {
	r.t.Helper()
	return r.runAttempts(policy, 10)
}

// chained returns the History and the Reconciler chained to it, as
// examples/ingestd runs them, on r's schema, logging nowhere.
func chained(t *testing.T, r *rig) (*tokenstd.History, *withdrawal.Reconciler) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Schema: testSchema, Logger: log})
	require.NoError(t, err)
	store, err := withdrawal.NewStore(r.b.db, withdrawal.Config{Schema: testSchema, Treasury: treasury, Logger: log})
	require.NoError(t, err)
	rec, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{Logger: log, History: history})
	require.NoError(t, err)
	return history, rec
}

package withdrawal_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// TestTokenChainUnderFaults ingests the token standard demo history with
// the History handler and the Reconciler, once undisturbed and once with
// streams dropped every few items, reconnects refused and PostgreSQL
// stopped twice under an uncommitted batch, in small batches: the faults
// cut the history into other batches, which the Reconciler applies with
// other groupings (outcomes together, withdrawals named twice on their
// own). Half of the withdrawals were requested beforehand (they move), the
// others are recovered. Both runs must end with the same history, holdings,
// instructions, withdrawals and anomalies.
func TestTokenChainUnderFaults(t *testing.T) {
	demo := ledgertest.BuildDemoHistory(treasury, 700)
	requested := requestsFor(t, demo)
	require.GreaterOrEqual(t, len(requested), 4, "the demo history has withdrawals of both kinds")

	clean := runTokenChain(t, demo, requested, nil)
	srv := pgtest.NewServer(t, pgtest.ServerOptions{})
	faulty := runTokenChain(t, demo, requested, srv)
	require.Equal(t, clean, faulty)

	t.Logf("withdrawals by status: %s; anomalies: %v", strings.ReplaceAll(clean.statuses, "\n", ", "), clean.anomalies)
	for _, st := range []string{"completed requested", "recovered recovered", "expired requested", "pending_acceptance requested", "rejected recovered", "withdrawn recovered"} {
		require.Contains(t, clean.statuses, st)
	}
	require.Empty(t, clean.anomalies)
}

// requestsFor returns the withdrawals of every other withdrawal id of the
// demo history, as the exchange requested them (from what the ledger shows).
func requestsFor(t *testing.T, demo *ledgertest.TokenDemo) []withdrawal.Withdrawal {
	t.Helper()
	set := tokenstd.NewHoldingSet()
	seen := map[string]bool{}
	var out []withdrawal.Withdrawal
	for _, tx := range demo.Transactions {
		entries, err := tokenstd.Classify(tx, treasury, set)
		require.NoError(t, err)
		set.Apply(entries)
		for _, e := range entries {
			if e.WithdrawalID == "" || seen[e.WithdrawalID] || (e.Kind != tokenstd.KindWithdrawal && e.Kind != tokenstd.KindOfferOut) {
				continue
			}
			seen[e.WithdrawalID] = true
			if len(seen)%2 == 0 {
				continue // unknown to the exchange: recovered
			}
			out = append(out, withdrawal.Withdrawal{Request: withdrawal.Request{ID: e.WithdrawalID, UserAccount: "user-" + e.WithdrawalID,
				Amount: e.Transferred, Instrument: e.Instrument, Receiver: e.Counterparty,
				TrecTgt: ledgertest.DefaultStartTime.AddDate(1, 0, 0)}}) // never due
		}
	}
	return out
}

type chainState struct {
	history, holdings, instructions, withdrawals, statuses string
	anomalies                                              []string
}

// runTokenChain ingests demo into a fresh database (on srv, which it stops
// twice mid-batch, if given) and returns what it stored.
func runTokenChain(t *testing.T, demo *ledgertest.TokenDemo, requested []withdrawal.Withdrawal, srv *pgtest.Server) chainState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var db *sqlx.DB
	if srv == nil {
		db = pgtest.NewDB(t)
	} else {
		var err error
		db, err = sqlx.Open("postgres", srv.DSN("postgres"))
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
	}
	require.NoError(t, schema.Migrate(ctx, db))
	for _, w := range requested {
		_, err := db.ExecContext(ctx, `INSERT INTO txhistory.withdrawal (id, user_account, amount, instrument_admin, instrument_id,
				receiver, trec_tgt, status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested')`,
			w.ID, w.UserAccount, w.Amount.String(), w.Instrument.Admin, w.Instrument.ID, w.Receiver, w.TrecTgt)
		require.NoError(t, err)
	}

	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	_, err = p.Append(demo.Transactions...)
	require.NoError(t, err)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })

	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Logger: quietLog})
	require.NoError(t, err)
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog})
	require.NoError(t, err)
	var mu sync.Mutex
	anomalies := map[string]bool{}
	rec, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{History: history, Logger: quietLog,
		OnAnomaly: func(_ context.Context, _ *sqlx.Tx, a *withdrawal.Anomaly) error {
			mu.Lock()
			defer mu.Unlock()
			anomalies[a.Outcome.ID+" "+string(a.Kind)+" "+a.Outcome.UpdateID] = true
			return nil
		}})
	require.NoError(t, err)
	handler := ingest.Handlers(history, rec)

	var restarts sync.WaitGroup
	if srv != nil {
		p.DropStreamsAfter(60)
		p.FailNext("GetUpdates", 2, codes.Unavailable)
		var calls atomic.Int32
		chain := handler
		handler = ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
			if err := chain.HandleBatch(ctx, tx, b); err != nil {
				return err
			}
			if n := calls.Add(1); n == 4 || n == 11 {
				// The batch is written but not committed: stop the server
				// under it, bring it back a little later.
				require.NoError(t, srv.Stop(context.Background()))
				restarts.Go(func() {
					time.Sleep(200 * time.Millisecond)
					if err := srv.Start(context.Background()); err != nil {
						t.Errorf("restart PostgreSQL: %v", err)
					}
				})
			}
			return nil
		})
	}
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{treasury}, Handler: handler, Logger: quietLog,
		EndOffset: p.LedgerEnd(), MaxBatchSize: 23, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, ing.Run(ctx))
	restarts.Wait()
	if srv != nil {
		require.Greater(t, p.Calls("GetUpdates"), 5, "the faults forced reconnects")
		require.GreaterOrEqual(t, ing.Stats().Errors["database"], int64(2), "the lost connections were retried")
	}

	rows := func(query string) string {
		var out []string
		require.NoError(t, db.SelectContext(ctx, &out, query))
		return strings.Join(out, "\n")
	}
	s := chainState{
		history: rows(`SELECT concat_ws(' | ', update_id, node_id, kind, instrument_admin, instrument_id, ledger_offset, record_time,
				amount, transferred, fee, counterparty, account, withdrawal_id, instruction_cid, holdings_created::text,
				holdings_archived::text, meta::text)
			FROM txhistory.token_history ORDER BY ledger_offset, node_id, kind, instrument_admin, instrument_id`),
		holdings: rows(`SELECT concat_ws(' | ', contract_id, owner, amount, lock::text, created_offset, archived_offset)
			FROM txhistory.token_holding ORDER BY contract_id`),
		instructions: rows(`SELECT concat_ws(' | ', contract_id, sender, receiver, amount, status, outcome, closed_offset)
			FROM txhistory.token_instruction ORDER BY contract_id`),
		withdrawals: withdrawalState(t, db),
		statuses: rows(`SELECT status || CASE WHEN recovered THEN ' recovered' ELSE ' requested' END || ': ' || count(*)
			FROM txhistory.withdrawal GROUP BY status, recovered ORDER BY 1`),
	}
	for a := range anomalies {
		s.anomalies = append(s.anomalies, a)
	}
	slices.Sort(s.anomalies)
	return s
}

package tokenstd_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

const testSchema = "tokens"

type historyBundle struct {
	db  *sqlx.DB
	ctx context.Context
}

func setupHistory(t *testing.T) *historyBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(ctx, db, schema.WithSchema(testSchema)))
	// The exchange's own ledger of credited deposits: a primary key on the
	// entry, so crediting one twice fails the test.
	_, err := db.ExecContext(ctx, `CREATE TABLE public.credit (
		update_id text, node_id int, account text, amount numeric, PRIMARY KEY (update_id, node_id))`)
	require.NoError(t, err)
	return &historyBundle{db: db, ctx: ctx}
}

// creditor credits deposits into public.credit, refusing accounts listed
// as unknown.
func creditor(unknown ...string) tokenstd.DepositCrediter {
	return tokenstd.CreditFunc(func(ctx context.Context, tx *sqlx.Tx, e *tokenstd.Entry) error {
		for _, u := range unknown {
			if e.Account == u {
				return tokenstd.ErrUnknownAccount
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO public.credit VALUES ($1, $2, $3, $4)`, e.UpdateID, e.NodeID, e.Account, e.Amount.String())
		return err
	})
}

func newHistory(t *testing.T, cfg tokenstd.Config) *tokenstd.History {
	t.Helper()
	cfg.Schema = testSchema
	if cfg.Treasury == "" {
		cfg.Treasury = treasury
	}
	h, err := tokenstd.NewHistory(cfg)
	require.NoError(t, err)
	return h
}

// handle applies the transactions to the handler in batches of size n,
// each batch in its own SQL transaction, as the Ingester would.
func (b *historyBundle) handle(t *testing.T, h ingest.Handler, list []*ledger.Transaction, n int) error {
	t.Helper()
	return b.handlePrepared(t, h, list, n, nil)
}

// handlePrepared is handle with each batch carrying, for each transaction,
// what hint returns for its index in list (nothing when hint is nil).
func (b *historyBundle) handlePrepared(t *testing.T, h ingest.Handler, list []*ledger.Transaction, n int, hint func(i int) any) error {
	t.Helper()
	for start := 0; start < len(list); start += n {
		end := min(start+n, len(list))
		tx, err := b.db.BeginTxx(b.ctx, nil)
		require.NoError(t, err)
		batch := &ingest.Batch{Transactions: list[start:end], FromOffset: list[start].Offset - 1, ToOffset: list[end-1].Offset}
		if hint != nil {
			batch = batch.WithPrepared(func(t *ledger.Transaction) any {
				return hint(start + slices.Index(list[start:end], t))
			})
		}
		if err := h.HandleBatch(b.ctx, tx, batch); err != nil {
			require.NoError(t, tx.Rollback())
			return err
		}
		require.NoError(t, tx.Commit())
	}
	return nil
}

// snapshot renders every row the handler writes, and the credits, as JSON.
func (b *historyBundle) snapshot(t *testing.T) string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT coalesce(json_agg(h ORDER BY contract_id), '[]')::text FROM tokens.token_holding h`,
		`SELECT coalesce(json_agg(i ORDER BY contract_id), '[]')::text FROM tokens.token_instruction i`,
		`SELECT coalesce(json_agg(e ORDER BY id), '[]')::text FROM tokens.token_history e`,
		`SELECT coalesce(json_agg(r ORDER BY update_id), '[]')::text FROM tokens.review_transaction r`,
		`SELECT coalesce(json_agg(c ORDER BY update_id, node_id), '[]')::text FROM public.credit c`,
	} {
		var s string
		require.NoError(t, b.db.GetContext(b.ctx, &s, q))
		out = append(out, s)
	}
	data, err := json.Marshal(out)
	require.NoError(t, err)
	return string(data)
}

// demo builds a scripted history and returns it as the treasury's
// participant delivers it.
func demo(t *testing.T, n int) (*ledgertest.TokenDemo, []*ledger.Transaction) {
	t.Helper()
	d := (&ledgertest.TokenWorld{Sequence: true}).DemoHistory(treasury, n)
	var view []*ledger.Transaction
	for _, tx := range d.Transactions {
		if v := ledgertest.TokenProjection(tx, treasury); v != nil {
			view = append(view, v)
		}
	}
	return d, view
}

func toInstrument(i ledgertest.TokenInstrument) tokenstd.Instrument {
	return tokenstd.Instrument{Admin: i.Admin, ID: i.ID}
}

func requireSameAmounts(t *testing.T, want, got map[tokenstd.Instrument]decimal.Decimal, msg string) {
	t.Helper()
	for k := range want {
		if want[k].IsZero() {
			delete(want, k)
		}
	}
	for k := range got {
		if got[k].IsZero() {
			delete(got, k)
		}
	}
	require.Equal(t, len(want), len(got), "%s: want %v, got %v", msg, want, got)
	for k, v := range want {
		require.True(t, v.Equal(got[k]), "%s: %s: want %s, got %s", msg, k, v, got[k])
	}
}

// TestTokenHistoryScriptedBalances runs a scripted history of 400
// transactions through the handler and checks the books: the balances
// from the holding set equal the treasury's live holdings in the builder's
// world, and deposits − withdrawals − fees equal the balance change (from
// zero). Every deposit is credited exactly once, with its account.
func TestTokenHistoryScriptedBalances(t *testing.T) {
	b := setupHistory(t)
	d, view := demo(t, 400)
	h := newHistory(t, tokenstd.Config{Credit: creditor()})
	require.NoError(t, b.handle(t, h, view, 17))

	balances, err := tokenstd.Balances(b.ctx, b.db, testSchema)
	require.NoError(t, err)
	world := map[tokenstd.Instrument]decimal.Decimal{}
	for inst, amt := range d.World.Balances(treasury) {
		world[toInstrument(inst)] = amt
	}
	requireSameAmounts(t, world, balances, "balances vs the world's live holdings")

	live, err := tokenstd.LiveHoldings(b.ctx, b.db, testSchema)
	require.NoError(t, err)
	var liveIDs, worldIDs []string
	for _, hd := range live {
		liveIDs = append(liveIDs, hd.ContractID)
	}
	for _, hd := range d.World.Holdings(treasury) {
		worldIDs = append(worldIDs, hd.ContractID)
	}
	require.ElementsMatch(t, worldIDs, liveIDs)

	entries, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, tokenstd.EntryFilter{})
	require.NoError(t, err)
	books := map[tokenstd.Instrument]decimal.Decimal{}
	deposits := map[ledgertest.DepositKey]decimal.Decimal{}
	withdrawn, fees := map[tokenstd.Instrument]decimal.Decimal{}, map[tokenstd.Instrument]decimal.Decimal{}
	kinds := map[tokenstd.Kind]int{}
	for _, e := range entries {
		kinds[e.Kind]++
		inst := ledgertest.TokenInstrument{Admin: e.Instrument.Admin, ID: e.Instrument.ID}
		switch e.Kind {
		case tokenstd.KindDeposit, tokenstd.KindDepositUnassigned:
			books[e.Instrument] = books[e.Instrument].Add(e.Amount)
			k := ledgertest.DepositKey{Account: e.Account, Instrument: inst}
			deposits[k] = deposits[k].Add(e.Amount)
		case tokenstd.KindWithdrawal:
			books[e.Instrument] = books[e.Instrument].Sub(e.Transferred)
			withdrawn[e.Instrument] = withdrawn[e.Instrument].Add(e.Transferred)
		case tokenstd.KindMint, tokenstd.KindOther:
			t.Fatalf("unexpected %s entry in the demo history: %+v", e.Kind, e)
		}
		books[e.Instrument] = books[e.Instrument].Sub(e.Fee)
		fees[e.Instrument] = fees[e.Instrument].Add(e.Fee)
	}
	requireSameAmounts(t, balances, books, "deposits − withdrawals − fees vs balances")
	t.Logf("%d transactions delivered, entries by kind: %v", len(view), kinds)
	for _, k := range []tokenstd.Kind{tokenstd.KindDeposit, tokenstd.KindDepositUnassigned, tokenstd.KindWithdrawal,
		tokenstd.KindMergeSplit, tokenstd.KindOfferIn, tokenstd.KindOfferOut} {
		require.NotZero(t, kinds[k], "the demo history has no %s", k)
	}

	require.Equal(t, len(d.Deposits), len(deposits), "deposit accounts: want %v, got %v", d.Deposits, deposits)
	for k, v := range d.Deposits {
		require.True(t, v.Equal(deposits[k]), "deposits of %v: want %s, got %s", k, v, deposits[k])
	}
	for inst, v := range d.Withdrawn {
		require.True(t, v.Equal(withdrawn[toInstrument(inst)]), "withdrawn %s", inst)
	}
	for inst, v := range d.Fees {
		require.True(t, v.Equal(fees[toInstrument(inst)]), "fees %s", inst)
	}

	var credited struct {
		N   int    `db:"n"`
		Sum string `db:"total"`
	}
	require.NoError(t, b.db.GetContext(b.ctx, &credited, `SELECT count(*) AS n, coalesce(sum(amount), 0)::text AS total FROM public.credit`))
	require.Equal(t, kinds[tokenstd.KindDeposit], credited.N)
	var want decimal.Decimal
	for _, e := range entries {
		if e.Kind == tokenstd.KindDeposit {
			want = want.Add(e.Amount)
		}
	}
	require.Equal(t, want.String(), decimal.RequireFromString(credited.Sum).String())

	// The database's history is what the pure classifier computes.
	set := tokenstd.NewHoldingSet()
	var pure []tokenstd.Entry
	for _, tx := range view {
		es, err := tokenstd.Classify(tx, treasury, set)
		require.NoError(t, err)
		set.Apply(es)
		pure = append(pure, es...)
	}
	requireSameAmounts(t, set.Balances(), balances, "in-memory holding set vs database")
	for i := range entries {
		// Seq is the database's: ingestion order, rising.
		if i > 0 {
			require.Greater(t, entries[i].Seq, entries[i-1].Seq)
		}
		entries[i].Seq = 0
	}
	require.NotEmpty(t, entries)
	wantJSON, err := json.Marshal(pure)
	require.NoError(t, err)
	gotJSON, err := json.Marshal(entries)
	require.NoError(t, err)
	require.JSONEq(t, string(wantJSON), string(gotJSON))
}

// TestTokenHistoryIdempotent: handing the handler the same transactions
// again, in other batch sizes, changes nothing and credits nothing twice.
func TestTokenHistoryIdempotent(t *testing.T) {
	b := setupHistory(t)
	_, view := demo(t, 150)
	h := newHistory(t, tokenstd.Config{Credit: creditor()})
	require.NoError(t, b.handle(t, h, view, 10))
	before := b.snapshot(t)
	require.NoError(t, b.handle(t, h, view, len(view)))
	require.NoError(t, b.handle(t, h, view, 1))
	require.NoError(t, b.handle(t, h, view[40:90], 7))
	require.Equal(t, before, b.snapshot(t))
}

// TestTokenHistoryOneBatchEqualsManyBatches: holdings created and spent
// within one batch are resolved from the batch itself.
func TestTokenHistoryOneBatchEqualsManyBatches(t *testing.T) {
	_, view := demo(t, 120)
	one := setupHistory(t)
	require.NoError(t, one.handle(t, newHistory(t, tokenstd.Config{}), view, len(view)))
	many := setupHistory(t)
	require.NoError(t, many.handle(t, newHistory(t, tokenstd.Config{}), view, 1))
	a, err := tokenstd.ListEntries(one.ctx, one.db, testSchema, tokenstd.EntryFilter{})
	require.NoError(t, err)
	c, err := tokenstd.ListEntries(many.ctx, many.db, testSchema, tokenstd.EntryFilter{})
	require.NoError(t, err)
	aj, _ := json.Marshal(a)
	cj, _ := json.Marshal(c)
	require.JSONEq(t, string(aj), string(cj))
}

// malformedHistory returns a history whose third delivered transaction (a
// deposit nobody spends later) has a holding view without amount.
func malformedHistory(t *testing.T) ([]*ledger.Transaction, *ledger.Transaction) {
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	list := []*ledger.Transaction{
		w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1"}),
		w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "20", Reason: "acct-2"}),
		w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "30", Reason: "acct-3"}),
		w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "25", Reason: "wd-1",
			InputHoldings: []string{w.Holdings(treasury)[0].ContractID, w.Holdings(treasury)[1].ContractID}}),
	}
	for i := range list {
		list[i] = ledgertest.TokenProjection(list[i], treasury)
	}
	bad := cloneTx(list[2])
	editView(t, bad, 3, []string{"amount"}, drop)
	list[2] = bad
	return list, bad
}

// TestTokenHistoryHaltsOnBadInput: by default a malformed transaction stops
// the batch with a *ParseError naming it, and nothing of the batch is kept.
func TestTokenHistoryHaltsOnBadInput(t *testing.T) {
	b := setupHistory(t)
	list, bad := malformedHistory(t)
	h := newHistory(t, tokenstd.Config{Credit: creditor()})
	err := b.handle(t, h, list, len(list))
	var pe *tokenstd.ParseError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, bad.UpdateID, pe.UpdateID)
	require.Equal(t, bad.Offset, pe.Offset)
	require.Equal(t, int32(3), pe.NodeID)
	entries, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, tokenstd.EntryFilter{})
	require.NoError(t, err)
	require.Empty(t, entries)
}

// TestTokenHistorySetsAsideBadInput: with SetAside the malformed
// transaction goes to the review table with its error and its protobuf
// JSON, and the others are ingested.
func TestTokenHistorySetsAsideBadInput(t *testing.T) {
	b := setupHistory(t)
	list, bad := malformedHistory(t)
	h := newHistory(t, tokenstd.Config{Credit: creditor(), OnError: tokenstd.SetAside})
	require.NoError(t, b.handle(t, h, list, len(list)))

	var rows []struct {
		UpdateID string `db:"update_id"`
		Offset   int64  `db:"ledger_offset"`
		Error    string `db:"error"`
		Raw      string `db:"raw"`
	}
	require.NoError(t, b.db.SelectContext(b.ctx, &rows, `SELECT update_id, ledger_offset, error, raw::text AS raw FROM tokens.review_transaction`))
	require.Len(t, rows, 1)
	require.Equal(t, bad.UpdateID, rows[0].UpdateID)
	require.Equal(t, bad.Offset, rows[0].Offset)
	require.Contains(t, rows[0].Error, "node 3")
	require.Contains(t, rows[0].Error, "amount: missing record field")
	require.JSONEq(t, string(txJSON(t, bad)), rows[0].Raw)

	entries, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, tokenstd.EntryFilter{})
	require.NoError(t, err)
	var kinds []tokenstd.Kind
	for _, e := range entries {
		kinds = append(kinds, e.Kind)
		require.NotEqual(t, bad.UpdateID, e.UpdateID)
	}
	require.Equal(t, []tokenstd.Kind{tokenstd.KindDeposit, tokenstd.KindDeposit, tokenstd.KindWithdrawal}, kinds)
	balances, err := tokenstd.Balances(b.ctx, b.db, testSchema)
	require.NoError(t, err)
	require.Equal(t, "5", balances[tokenstd.Instrument{Admin: ledgertest.TokenDefaultAdmin, ID: "Amulet"}].String())

	before := b.snapshot(t)
	require.NoError(t, b.handle(t, h, list, 2))
	require.Equal(t, before, b.snapshot(t), "setting aside is idempotent too")
}

// TestTokenHistoryUnknownAccount: a deposit the exchange's crediter does not
// recognise is kept as deposit_unassigned, never lost.
func TestTokenHistoryUnknownAccount(t *testing.T) {
	b := setupHistory(t)
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	list := []*ledger.Transaction{
		ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1"}), treasury),
		ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "20", Reason: "acct-99"}), treasury),
	}
	h := newHistory(t, tokenstd.Config{Credit: creditor("acct-99")})
	require.NoError(t, b.handle(t, h, list, 2))
	entries, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, tokenstd.EntryFilter{Kinds: []tokenstd.Kind{tokenstd.KindDepositUnassigned}})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "acct-99", entries[0].Reason)
	require.Equal(t, "", entries[0].Account)
	require.Equal(t, "20", entries[0].Amount.String())
	var n int
	require.NoError(t, b.db.GetContext(b.ctx, &n, `SELECT count(*) FROM public.credit`))
	require.Equal(t, 1, n)
}

// TestTokenHistoryCrediterFailureAbortsBatch: any other crediter error
// aborts the batch, naming the transaction.
func TestTokenHistoryCrediterFailureAbortsBatch(t *testing.T) {
	b := setupHistory(t)
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	tx := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1"}), treasury)
	boom := errors.New("accounts service down")
	h := newHistory(t, tokenstd.Config{Credit: tokenstd.CreditFunc(func(context.Context, *sqlx.Tx, *tokenstd.Entry) error { return boom })})
	err := b.handle(t, h, []*ledger.Transaction{tx}, 1)
	require.ErrorIs(t, err, boom)
	require.Contains(t, err.Error(), tx.UpdateID)
}

// TestTokenHistoryPendingInstructions: offers to and from the treasury are
// listed until their outcome.
func TestTokenHistoryPendingInstructions(t *testing.T) {
	b := setupHistory(t)
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	dep := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "50", Reason: "acct-1"})
	offerIn, in := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-2"})
	offerOut, out := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "7", Reason: "wd-1"})
	h := newHistory(t, tokenstd.Config{})
	view := func(txs ...*ledger.Transaction) []*ledger.Transaction {
		for i := range txs {
			txs[i] = ledgertest.TokenProjection(txs[i], treasury)
		}
		return txs
	}
	require.NoError(t, b.handle(t, h, view(dep, offerIn, offerOut), 3))
	pending, err := tokenstd.PendingInstructions(b.ctx, b.db, testSchema)
	require.NoError(t, err)
	require.Len(t, pending, 2)
	require.Equal(t, in, pending[0].ContractID)
	require.Equal(t, "acct-2", pending[0].Transfer.Meta[tokenstd.MetaReason])
	require.Equal(t, "5", pending[0].Transfer.Amount.String())
	require.Equal(t, out, pending[1].ContractID)

	require.NoError(t, b.handle(t, h, view(w.Accept(in), w.Withdraw(out)), 1))
	pending, err = tokenstd.PendingInstructions(b.ctx, b.db, testSchema)
	require.NoError(t, err)
	require.Empty(t, pending)
	var outcomes []string
	require.NoError(t, b.db.SelectContext(b.ctx, &outcomes, `SELECT outcome FROM tokens.token_instruction ORDER BY contract_id`))
	require.Equal(t, []string{string(tokenstd.KindDeposit), string(tokenstd.KindWithdrawn)}, outcomes)
}

func TestTokenNewHistoryValidates(t *testing.T) {
	_, err := tokenstd.NewHistory(tokenstd.Config{})
	require.ErrorContains(t, err, "Treasury is required")
	_, err = tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Schema: "Bad-Name"})
	var ne *schema.NameError
	require.ErrorAs(t, err, &ne)
	_, err = tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, OnError: 7})
	require.ErrorContains(t, err, "OnError")
}

// TestTokenHistoryRejectsUnstorableText: a NUL byte in ledger text cannot go
// into PostgreSQL; it is bad input (a *ParseError), not a database failure.
// (Here in the id of the instrument of a holding its admin signed; in
// metadata, free text, a NUL reads as U+FFFD.)
func TestTokenHistoryRejectsUnstorableText(t *testing.T) {
	b := setupHistory(t)
	w := &ledgertest.TokenWorld{Sequence: true}
	inst := w.Instrument("NUL\x00")
	w.Mint(alice, "100", inst)
	tx := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1", Instrument: inst}), treasury)
	err := b.handle(t, newHistory(t, tokenstd.Config{}), []*ledger.Transaction{tx}, 1)
	var pe *tokenstd.ParseError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, tx.UpdateID, pe.UpdateID)
	require.Contains(t, err.Error(), "not storable")

	require.NoError(t, b.handle(t, newHistory(t, tokenstd.Config{OnError: tokenstd.SetAside}), []*ledger.Transaction{tx}, 1))
	var n int
	require.NoError(t, b.db.GetContext(b.ctx, &n, `SELECT count(*) FROM tokens.review_transaction WHERE update_id = $1`, tx.UpdateID))
	require.Equal(t, 1, n)
}

// TestTokenHistoryRepeatsAndDuplicateEntries: a transaction named twice in
// one batch is handled once; an entry or a holding whose key is stored
// already (which only a bug could cause, simulated here by triggers that
// give every row the same key) fails the batch with an error naming the
// key, instead of being dropped.
func TestTokenHistoryRepeatsAndDuplicateEntries(t *testing.T) {
	_, view := demo(t, 40)
	want := setupHistory(t)
	require.NoError(t, want.handle(t, newHistory(t, tokenstd.Config{Credit: creditor()}), view, len(view)))

	twice := setupHistory(t)
	h := newHistory(t, tokenstd.Config{Credit: creditor()})
	list := append(append([]*ledger.Transaction{}, view[:20]...), view[:20]...) // [0..19] again at the end of the batch
	list = append(list, view[20:]...)
	tx, err := twice.db.BeginTxx(twice.ctx, nil)
	require.NoError(t, err)
	require.NoError(t, h.HandleBatch(twice.ctx, tx, &ingest.Batch{Transactions: list, FromOffset: view[0].Offset - 1, ToOffset: view[len(view)-1].Offset}))
	require.NoError(t, tx.Commit())
	require.Equal(t, want.snapshot(t), twice.snapshot(t))

	dup := setupHistory(t)
	dup.rewriteInserts(t, "token_history", `NEW.update_id := 'the-same-update'; NEW.node_id := 0; NEW.kind := 'other';
		NEW.instrument_admin := 'admin'; NEW.instrument_id := 'id';`)
	err = dup.handle(t, newHistory(t, tokenstd.Config{}), view[:10], 10)
	require.ErrorContains(t, err, "history entries")
	require.ErrorContains(t, err, "one is stored already")
	require.ErrorContains(t, err, "the-same-update")
	require.ErrorContains(t, err, fmt.Sprintf("offsets %d..", view[0].Offset))

	dupHolding := setupHistory(t)
	dupHolding.rewriteInserts(t, "token_holding", `NEW.contract_id := 'the-same-holding';`)
	err = dupHolding.handle(t, newHistory(t, tokenstd.Config{}), view[:10], 10)
	require.ErrorContains(t, err, "holdings")
	require.ErrorContains(t, err, "one is stored already")
	require.ErrorContains(t, err, "the-same-holding")
}

// rewriteInserts makes every row inserted into tokens.<table> go through
// the PL/pgSQL assignments (to NEW) first.
func (b *historyBundle) rewriteInserts(t *testing.T, table, assignments string) {
	t.Helper()
	_, err := b.db.ExecContext(b.ctx, `CREATE FUNCTION public.rewrite_`+table+`() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN `+assignments+` RETURN NEW; END $$;
		CREATE TRIGGER rewrite BEFORE INSERT ON tokens.`+table+` FOR EACH ROW EXECUTE FUNCTION public.rewrite_`+table+`()`)
	require.NoError(t, err)
}

// TestUnassignedDepositClosesItsInstructionAsUnassigned: a deposit offered
// as a transfer instruction, accepted, whose account the crediter does not
// know ends its instruction with the entry's kind, deposit_unassigned, not
// deposit.
func TestUnassignedDepositClosesItsInstructionAsUnassigned(t *testing.T) {
	b := setupHistory(t)
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	offerKnown, known := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1"})
	offerUnknown, unknown := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "6", Reason: "acct-99"})
	h := newHistory(t, tokenstd.Config{Credit: creditor("acct-99")})
	list := []*ledger.Transaction{offerKnown, offerUnknown, w.Accept(known), w.Accept(unknown)}
	for i := range list {
		list[i] = ledgertest.TokenProjection(list[i], treasury)
	}
	require.NoError(t, b.handle(t, h, list, 2))
	outcome := func(cid string) string {
		var s string
		require.NoError(t, b.db.GetContext(b.ctx, &s, `SELECT outcome FROM tokens.token_instruction WHERE contract_id = $1`, cid))
		return s
	}
	require.Equal(t, string(tokenstd.KindDeposit), outcome(known))
	require.Equal(t, string(tokenstd.KindDepositUnassigned), outcome(unknown))
	entries, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, tokenstd.EntryFilter{Kinds: []tokenstd.Kind{tokenstd.KindDepositUnassigned}})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, unknown, entries[0].InstructionCID)
}

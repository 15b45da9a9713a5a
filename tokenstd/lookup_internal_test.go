package tokenstd

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// TestLookUpReadsWhatTheTablesHold: lookUp's one statement reads the
// holdings and pending instructions as JSON; they must be exactly what
// HoldingsByID and PendingInstructions read column by column, every field
// (locks, metadata, archives, times in a session time zone other than
// UTC), and the transactions to handle must be those not stored, once each.
func TestLookUpReadsWhatTheTablesHold(t *testing.T) {
	const treasury = "treasury::1220aa"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(ctx, db, schema.WithSchema("tokens")))
	h, err := NewHistory(Config{Treasury: treasury, Schema: "tokens"})
	require.NoError(t, err)

	d := (&ledgertest.TokenWorld{Sequence: true}).DemoHistory(treasury, 400)
	var view []*ledger.Transaction
	for _, full := range d.Transactions {
		if tx := ledgertest.TokenProjection(full, treasury); tx != nil {
			view = append(view, tx)
		}
	}
	cut := len(view) / 2
	for start := 0; start < cut; start += 40 {
		end := min(start+40, cut)
		tx, err := db.BeginTxx(ctx, nil)
		require.NoError(t, err)
		require.NoError(t, h.HandleBatch(ctx, tx, &ingest.Batch{Transactions: view[start:end],
			FromOffset: view[start].Offset - 1, ToOffset: view[end-1].Offset}))
		require.NoError(t, tx.Commit())
	}

	tx, err := db.BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(ctx, `SET LOCAL TIME ZONE 'Asia/Kolkata'`)
	require.NoError(t, err)

	// Everything, with the stored half, and the second half twice. Stored
	// transactions are those with history entries: the others left nothing
	// to skip, and are handled again (to no effect).
	all := append(slices.Clone(view), view[cut:]...)
	todo, set, err := h.lookUp(ctx, tx, all)
	require.NoError(t, err)
	var stored []string
	require.NoError(t, tx.SelectContext(ctx, &stored, `SELECT DISTINCT update_id FROM tokens.token_history`))
	var wantTodo []*ledger.Transaction
	for _, v := range view[:cut] {
		if !slices.Contains(stored, v.UpdateID) {
			wantTodo = append(wantTodo, v)
		}
	}
	require.Less(t, len(wantTodo), cut/2, "most of the first half has entries")
	wantTodo = append(wantTodo, view[cut:]...)
	require.Equal(t, wantTodo, todo)

	var cids []string
	for _, v := range all {
		for _, ev := range v.Events {
			switch e := ev.(type) {
			case *ledger.ExercisedEvent:
				if e.Consuming {
					cids = append(cids, e.ContractID)
				}
			case *ledger.ArchivedEvent:
				cids = append(cids, e.ContractID)
			}
		}
	}
	hs, err := HoldingsByID(ctx, tx, "tokens", cids)
	require.NoError(t, err)
	want := map[string]Holding{}
	for _, hd := range hs {
		want[hd.ContractID] = hd
	}
	require.Equal(t, want, set.holdings)
	var locked, archived int
	for _, hd := range set.holdings {
		if hd.Lock != nil {
			locked++
		}
		if hd.Archived != nil {
			archived++
		}
	}
	require.Positive(t, locked, "no locked holding among those read")
	require.Positive(t, archived, "no archived holding among those read")
	require.Less(t, archived, len(set.holdings), "no live holding among those read")

	pending, err := PendingInstructions(ctx, tx, "tokens")
	require.NoError(t, err)
	wantIns := map[string]Instruction{}
	for _, in := range pending {
		if slices.Contains(cids, in.ContractID) {
			wantIns[in.ContractID] = in
		}
	}
	require.NotEmpty(t, wantIns, "no pending instruction is consumed later")
	require.Equal(t, wantIns, set.instructions)
}

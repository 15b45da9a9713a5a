package schema_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
)

// Migration 009 fills original_instruction_cid for the instructions stored
// before it: a replacement's original is the first instruction of its chain
// of replaces; the first has none.
func TestMigration009BackfillsOriginals(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	must(t, schema.Migrate(ctx, db, schema.WithTargetVersion(8)))
	for _, row := range [][2]string{{"A", ""}, {"B", "A"}, {"C", "B"}, {"X", ""}, {"Y", "unknown"}} {
		_, err := db.ExecContext(ctx, `INSERT INTO txhistory.token_instruction (contract_id, sender, receiver, instrument_admin,
			instrument_id, amount, status, replaces, created_offset, created_update_id, created_record_time)
			VALUES ($1, 's', 'r', 'a', 'i', 1, 'TransferPendingReceiverAcceptance', $2, 1, 'u', now())`, row[0], row[1])
		if err != nil {
			t.Fatal(err)
		}
	}
	must(t, schema.Migrate(ctx, db))
	rows, err := db.QueryxContext(ctx, `SELECT contract_id, original_instruction_cid FROM txhistory.token_instruction ORDER BY contract_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var cid, orig string
		if err := rows.Scan(&cid, &orig); err != nil {
			t.Fatal(err)
		}
		got[cid] = orig
	}
	want := map[string]string{"A": "", "B": "A", "C": "A", "X": "", "Y": ""}
	for cid, w := range want {
		if got[cid] != w {
			t.Fatalf("original of %s = %q, want %q (all: %v)", cid, got[cid], w, got)
		}
	}
}

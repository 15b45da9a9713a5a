package withdrawal_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// opsInlineSQL returns the one SQL statement of docs/OPERATIONS.md, in a
// code span of the prose (outside the fenced blocks, which
// TestOperationsRolesAsDocumented runs), that starts with prefix.
func opsInlineSQL(t *testing.T, prefix string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "OPERATIONS.md"))
	require.NoError(t, err)
	prose := regexp.MustCompile("(?ms)^```.*?^```").ReplaceAllString(string(b), "")
	var found []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(prose, -1) {
		if s := strings.Join(strings.Fields(m[1]), " "); strings.HasPrefix(s, prefix) {
			found = append(found, s)
		}
	}
	require.Len(t, found, 1, "docs/OPERATIONS.md: the statement starting %q", prefix)
	return found[0]
}

// TestOperationsInlineSQLAsDocumented runs the SQL docs/OPERATIONS.md gives
// operators in its prose against an Integration DB holding ingested
// history and withdrawals in several states, and checks it answers what the
// guide says it answers:
//   - the query to run before leaving an instrument out of the list returns
//     exactly that instrument's withdrawals still in flight (requested and
//     pending acceptance here; not a completed one);
//   - the checkpoint query of the pruning advice returns the checkpoint's
//     offset;
//   - the partial index suggested for paging a rare kind is created, and
//     ListEntries over that kind still returns its entries.
func TestOperationsInlineSQLAsDocumented(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("60", "50", "40")
	inst := instrument(e.world.Instrument())

	requested := e.create(e.request("wd-requested", "10", cids[0]))
	offered := e.create(e.request("wd-offered", "20", cids[1]))
	paid := e.create(e.request("wd-paid", "30", cids[2]))
	offerTx, _ := e.offer(offered, "0")
	e.apply(offerTx)
	e.apply(e.transfer(paid, "0"))
	require.Equal(t, withdrawal.StatusRequested, e.get(requested.ID).Status)
	require.Equal(t, withdrawal.StatusPendingAcceptance, e.get(offered.ID).Status)
	require.Equal(t, withdrawal.StatusCompleted, e.get(paid.ID).Status)

	// Before leaving an instrument out of TXHISTORY_INSTRUMENTS.
	inFlight := opsInlineSQL(t, "SELECT id, status FROM txhistory.withdrawal WHERE instrument_id = $1")
	var rows []struct {
		ID     string `db:"id"`
		Status string `db:"status"`
	}
	require.NoError(t, e.db.SelectContext(e.ctx, &rows, inFlight+` ORDER BY id`, inst.ID, inst.Admin))
	got := map[string]string{}
	for _, r := range rows {
		got[r.ID] = r.Status
	}
	require.Equal(t, map[string]string{"wd-offered": "pending_acceptance", "wd-requested": "requested"}, got,
		"docs/OPERATIONS.md: %s", inFlight)
	rows = nil
	require.NoError(t, e.db.SelectContext(e.ctx, &rows, inFlight, inst.ID, "another-admin"))
	require.Empty(t, rows, "another instrument's in-flight withdrawals")

	// The checkpoint offset of an Integration DB backup (pruning advice).
	cpQuery := opsInlineSQL(t, "SELECT ledger_offset FROM txhistory.checkpoint")
	var offset int64
	require.NoError(t, e.db.GetContext(e.ctx, &offset, cpQuery))
	cps, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	cp, found, err := cps.Get(e.ctx, e.db)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, cp.Offset, offset)
	require.Equal(t, e.offset, offset, "the offset ingestion reached")

	// The index suggested for paging through a rare kind.
	index := opsInlineSQL(t, "CREATE INDEX ON txhistory.token_history")
	_, err = e.db.ExecContext(e.ctx, index)
	require.NoError(t, err)
	kind := tokenstd.Kind(regexp.MustCompile(`kind = '([a-z_]+)'`).FindStringSubmatch(index)[1])
	require.Contains(t, tokenstd.Kinds(), kind, "the index's kind is one ListEntries knows")
	es, err := tokenstd.ListEntries(e.ctx, e.db, schema.DefaultName, tokenstd.EntryFilter{Kinds: []tokenstd.Kind{tokenstd.KindWithdrawal}})
	require.NoError(t, err)
	require.Len(t, es, 1, "the paid withdrawal's entry")
	// ListEntries' filter on that kind, as it sends it (kind = ANY of an
	// array parameter, ORDER BY id), can be served by the index: the
	// planner proves the index's predicate from the bound array.
	var idx string
	require.NoError(t, e.db.GetContext(e.ctx, &idx, `SELECT indexname FROM pg_indexes
		WHERE schemaname = 'txhistory' AND tablename = 'token_history' AND indexdef LIKE '%' || $1 || '%'`, string(kind)))
	tx, err := e.db.BeginTxx(e.ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback() //nolint:errcheck
	_, err = tx.ExecContext(e.ctx, `SET LOCAL enable_seqscan = off`)
	require.NoError(t, err)
	var plan []string
	require.NoError(t, tx.SelectContext(e.ctx, &plan,
		`EXPLAIN SELECT id FROM txhistory.token_history WHERE id > $1 AND kind = ANY($2) ORDER BY id LIMIT 100`,
		0, pq.Array([]string{string(kind)})))
	require.Contains(t, strings.Join(plan, "\n"), idx, "the plan of a page of %s entries uses the suggested index", kind)
}

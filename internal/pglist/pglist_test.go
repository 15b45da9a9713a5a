package pglist_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/internal/pglist"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestParamRoundTrip: the expression Param gives reads back, on the server,
// exactly the ids passed, for the lists the callers pass (none, one, many,
// odd but legal characters) and for those that must take the text[] path.
func TestParamRoundTrip(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	for _, c := range []struct {
		ids   []string
		split bool // passed as one text value
	}{
		{[]string{}, true},
		{[]string{"one"}, true},
		{[]string{"1220abc", "00deadbeef::ca11", "party::1220ff", "quote\"back\\slash", "comma,brace{}", "space and\ttab\nnewline", "üñí", "NULL"}, true},
		{[]string{""}, false},
		{[]string{"a", "", "b"}, false},
		{[]string{"a\x1fb", "c"}, false},
	} {
		expr, arg := pglist.Param(1, c.ids)
		require.Equal(t, c.split, strings.HasPrefix(expr, "string_to_array"), "%q: %s", c.ids, expr)
		var got pq.StringArray
		require.NoError(t, db.GetContext(ctx, &got, `SELECT `+expr, arg))
		require.Equal(t, c.ids, []string(got), "%q", c.ids)
	}
	expr, _ := pglist.Param(3, []string{"x"})
	require.Equal(t, `string_to_array($3, E'\x1f')`, expr)
}

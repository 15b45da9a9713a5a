package tokenstd

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// cidsLiteral's text arrays, cast by PostgreSQL, give back the ids
// unchanged, whatever characters they hold.
func TestCidsLiteralRoundTrip(t *testing.T) {
	db := pgtest.NewDB(t)
	for _, ids := range [][]string{
		nil,
		{"00holding0001"},
		{"a", "b,c", "{d}", `e"f`, `g\h`, `\"`, "NULL", "null", "", " sp ace ", "ünï€ode", "tab\tnew\nline"},
	} {
		hs := make([]Holding, len(ids))
		for i, id := range ids {
			hs[i].ContractID = id
		}
		var got pq.StringArray
		require.NoError(t, db.GetContext(context.Background(), &got, `SELECT ($1::text[])[1]::text[]`,
			pq.Array([]string{cidsLiteral(hs)})))
		want := ids
		if want == nil {
			want = []string{}
		}
		require.Equal(t, want, []string(got), "literal %s", cidsLiteral(hs))
	}
}

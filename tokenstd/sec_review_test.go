package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// A malformed token transaction whose ParseError quotes ledger text with a
// NUL byte (a type name, a variant constructor) is set aside by a History
// with OnError SetAside: the review row's error column is text, which
// refuses NUL; the transaction must be set aside, not fail the batch.
func TestSecSetAsideErrorWithNUL(t *testing.T) {
	cases := map[string]func(t testing.TB, tx *ledger.Transaction){
		"holding view type": func(t testing.TB, tx *ledger.Transaction) {
			editView(t, tx, 3, nil, retype("Splice.Api.Token.Holding\x00V1", "HoldingView"))
		},
		"result constructor": func(t testing.TB, tx *ledger.Transaction) {
			editResult(t, tx, 0, []string{"output"}, setTo(ledger.Variant(nil, "TransferInstructionResult_\x00", ledger.Unit())))
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			b := setupHistory(t)
			tx := cloneTx(badBase(t))
			mutate(t, tx)
			_, err := tokenstd.Classify(tx, treasury, nil)
			require.Error(t, err)
			t.Logf("Classify: %q", err)
			require.NoError(t, b.handle(t, newHistory(t, tokenstd.Config{OnError: tokenstd.SetAside}), []*ledger.Transaction{tx}, 1))
			var n int
			require.NoError(t, b.db.GetContext(b.ctx, &n, `SELECT count(*) FROM tokens.review_transaction WHERE update_id = $1`, tx.UpdateID))
			require.Equal(t, 1, n)
		})
	}
}

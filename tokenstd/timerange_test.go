package tokenstd_test

import (
	"errors"
	"math"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// A time beyond Daml's years 1 to 9999 (the wire carries any int64 of
// microseconds) is bad input: a *ParseError naming the transaction, which
// SetAside sets aside. Before, a lock expiring in such a year made
// HandleBatch panic writing the holding's JSON, and an instruction whose
// executeBefore lay there was stored, and the batch that consumed it failed
// reading it back with an error that named no transaction. (The latter is
// now ignored: see the instruction deadline case.)
func TestTimesOutsideDamlsRange(t *testing.T) {
	t.Run("lock expiry", func(t *testing.T) {
		tx := cloneTx(badBase(t))
		editView(t, tx, 3, []string{"lock"}, setTo(ledger.Some(ledger.Record(nil,
			ledger.F("holders", ledger.List(ledger.Party("venue::1"))),
			ledger.F("expiresAt", ledger.Some(ledger.TimestampMicros(math.MaxInt64))),
			ledger.F("expiresAfter", ledger.None()), ledger.F("context", ledger.None())))))
		b := setupHistory(t)
		var err error
		require.NotPanics(t, func() { err = b.handle(t, newHistory(t, tokenstd.Config{}), []*ledger.Transaction{tx}, 1) })
		var pe *tokenstd.ParseError
		require.True(t, errors.As(err, &pe), "error %v is not a *ParseError", err)
		require.Equal(t, tx.UpdateID, pe.UpdateID)
		require.Contains(t, err.Error(), "lock.expiresAt")

		require.NoError(t, b.handle(t, newHistory(t, tokenstd.Config{OnError: tokenstd.SetAside}), []*ledger.Transaction{tx}, 1))
		require.Equal(t, []string{tx.UpdateID}, reviewed(t, b))
	})
	t.Run("instruction deadline", func(t *testing.T) {
		w := &ledgertest.TokenWorld{Sequence: true}
		w.Mint(alice, "60")
		offer, in := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "25", Reason: "acct-2"})
		accept := w.Accept(in)
		ov := cloneTx(ledgertest.TokenProjection(offer, treasury))
		edited := false
		for i, ev := range ov.Events {
			if c, ok := ev.(*ledger.CreatedEvent); ok && c.ContractID == in && len(c.InterfaceViews) > 0 {
				editView(t, ov, i, []string{"transfer", "executeBefore"}, setTo(ledger.TimestampMicros(253402300800000000))) // 10000-01-01
				edited = true
			}
		}
		require.True(t, edited, "the offer's instruction was not found")

		// alice's offer to the treasury moves nothing of the treasury's
		// until it accepts it, and any party may offer one (with a view of
		// its own template's): an unreadable view is ignored, not set
		// aside. The offer is the one the TransferFactory_Transfer
		// argument says, and its acceptance alice's deposit.
		b := setupHistory(t)
		h := newHistory(t, tokenstd.Config{OnError: tokenstd.SetAside})
		require.NoError(t, b.handle(t, h, []*ledger.Transaction{ov}, 1))
		require.Empty(t, reviewed(t, b))
		pending, err := tokenstd.PendingInstructions(b.ctx, b.db, testSchema)
		require.NoError(t, err)
		require.Len(t, pending, 1)
		require.Equal(t, in, pending[0].ContractID)
		require.Less(t, pending[0].Transfer.ExecuteBefore.Year(), 10000)
		require.NoError(t, b.handle(t, h, []*ledger.Transaction{ledgertest.TokenProjection(accept, treasury)}, 1),
			"the acceptance of the offer")
		var deposited []string
		require.NoError(t, b.db.SelectContext(b.ctx, &deposited, `SELECT amount::text FROM tokens.token_history
			WHERE kind = 'deposit' AND account = 'acct-2' AND update_id = $1`, accept.UpdateID))
		require.Len(t, deposited, 1)
		requireDecimal(t, "25", decimal.RequireFromString(deposited[0]))
	})
}

func reviewed(t *testing.T, b *historyBundle) []string {
	t.Helper()
	var ids []string
	require.NoError(t, b.db.SelectContext(b.ctx, &ids, `SELECT update_id FROM tokens.review_transaction ORDER BY ledger_offset`))
	return ids
}

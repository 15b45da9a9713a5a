package tokenstd_test

import (
	"fmt"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
)

// A bounded catch-up (EndOffset 4, sent as end_inclusive) to which the
// participant, or a proxy, streams a transaction at an offset past it, here
// past its own ledger end too. The transaction was booked, the checkpoint
// moved there and Run returned nil as if caught up to 4; the next Run then
// found the checkpoint beyond the ledger end and took the participant for
// restored from a backup. Run must stop naming the offset and update id,
// committing nothing past EndOffset, and resume once the participant
// streams right.
func TestRV134OffsetPastTheEndOffsetStops(t *testing.T) {
	for _, policy := range []ingest.PoisonPolicy{ingest.PoisonHalt, ingest.PoisonSetAside} {
		t.Run(fmt.Sprintf("policy %d", policy), func(t *testing.T) {
			r := newBrokenRig(t)
			d1, d2, d3, d4 := r.deposit(1, "1"), r.deposit(2, "2"), r.deposit(3, "3"), r.deposit(4, "4")
			good := []*lapiv2.GetUpdatesResponse{txItem(d1), txItem(d2), txItem(d3), txItem(d4)}
			r.s.script(2, good[:2]...)
			require.NoError(t, r.runTo(policy, 2, 1))

			far := copyTx(d3)
			far.Offset = 1 << 40
			r.s.script(4, txItem(d1), txItem(d2), txItem(far), txItem(d4))
			err := r.runTo(policy, 4, 0)
			require.Error(t, err)
			require.Contains(t, err.Error(), fmt.Sprintf("at offset %d", far.Offset))
			require.Contains(t, err.Error(), far.UpdateID)
			require.Equal(t, int64(2), r.checkpoint())
			require.Equal(t, 2, r.deposits())

			r.s.script(4, good...)
			require.NoError(t, r.runTo(policy, 4, 0))
			require.Equal(t, int64(4), r.checkpoint())
			require.Equal(t, 4, r.deposits())
		})
	}
}

// The same with the transaction past the end offset malformed as well (no
// synchronizer id): under PoisonSetAside it was set aside, its offset (all
// that is known of it) unchecked, and Run stopped on the good transaction
// after it, naming that one. Run must stop naming it, under either policy.
func TestRV134MalformedOffsetPastTheEndOffsetStops(t *testing.T) {
	for _, policy := range []ingest.PoisonPolicy{ingest.PoisonHalt, ingest.PoisonSetAside} {
		t.Run(fmt.Sprintf("policy %d", policy), func(t *testing.T) {
			r := newBrokenRig(t)
			d1, d2, d3, d4 := r.deposit(1, "1"), r.deposit(2, "2"), r.deposit(3, "3"), r.deposit(4, "4")
			good := []*lapiv2.GetUpdatesResponse{txItem(d1), txItem(d2), txItem(d3), txItem(d4)}
			r.s.script(2, good[:2]...)
			require.NoError(t, r.runTo(policy, 2, 1))

			far := copyTx(d3)
			far.Offset, far.SynchronizerID = 1<<40, ""
			r.s.script(4, txItem(d1), txItem(d2), txItem(far), txItem(d4))
			err := r.runTo(policy, 4, 0)
			require.Error(t, err)
			require.Contains(t, err.Error(), fmt.Sprintf("at offset %d", far.Offset))
			require.Contains(t, err.Error(), far.UpdateID)
			require.Equal(t, int64(2), r.checkpoint())
			require.Zero(t, r.count(`SELECT count(*) FROM tokens.review_transaction`))

			r.s.script(4, good...)
			require.NoError(t, r.runTo(policy, 4, 0))
			require.Equal(t, int64(4), r.checkpoint())
			require.Equal(t, 4, r.deposits())
		})
	}
}

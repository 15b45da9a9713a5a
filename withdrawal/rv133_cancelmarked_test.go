package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// TestRV133CancelOfAWithdrawalMarkedSubmittedIsRefused is rv112's
// cancellation of a withdrawal whose transfer the participant accepted,
// marked submitted by the exchange's own submission loop through the public
// MarkSubmitted rather than by the Automation (or by a build before
// migration 008, which recorded no attempt and whose submitted rows 008
// does not backfill). "Submitted" says the participant accepted the
// command: its transfer may pay out until trecTgt, and a cancellation that
// refunds the user pays twice.
func TestRV133CancelOfAWithdrawalMarkedSubmittedIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name     string
		upgraded bool // the row as migration 008 left a submitted one
	}{{"MarkSubmitted", false}, {"submitted before migration 008", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
			cids := e.mint("80")
			w := e.create(e.request("wd-1", "60", cids...))
			e.tick(e.world.Now())

			// The exchange's submission loop: the participant accepts the
			// command, and the loop marks the withdrawal submitted.
			onLedger := e.transfer(w, "0")
			_, err := e.store.MarkSubmitted(e.ctx, w.ID)
			require.NoError(t, err)
			if tc.upgraded {
				_, err := e.db.ExecContext(e.ctx, `UPDATE txhistory.withdrawal SET submit_attempted_at = NULL WHERE id = $1`, w.ID)
				require.NoError(t, err)
			}
			require.Equal(t, withdrawal.StatusSubmitted, e.get(w.ID).Status)

			// Support's cancellation of the "stuck" withdrawal lands now.
			_, cancelErr := e.store.MarkFailed(e.ctx, w.ID, "stuck, cancelled by support")
			requireCancelRefusedAndPaidOnce(t, e, w, onLedger, cancelErr)
		})
	}
}

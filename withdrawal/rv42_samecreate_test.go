package withdrawal_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// TestConcurrentCreatesOfOneID: two API servers create the same withdrawal
// id at once (a client retrying on another server). The second Create
// looks for the id before the first commits and reads the reservations
// after: the holding is then reserved by the very withdrawal it creates.
// The same request must get the stored withdrawal (Create is idempotent),
// another request ErrIDConflict, not ErrHoldingReserved naming itself.
func TestConcurrentCreatesOfOneID(t *testing.T) {
	for _, tc := range []struct {
		name   string
		amount string // of the second request; the first's is 5
	}{{"same request", "5"}, {"other request", "6"}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
			cids := e.mint("10")
			first := e.request("wd-1", "5", cids[0])
			second := first
			second.Amount = dec(tc.amount)

			var dbName string
			require.NoError(t, e.db.GetContext(e.ctx, &dbName, `SELECT current_database()`))
			ext, err := sqlx.Open("postgres", pgtest.SharedServer(t).DSN(dbName))
			require.NoError(t, err)
			defer ext.Close()

			// The first Create, in its transaction, not committed yet.
			tx1, err := e.db.BeginTxx(e.ctx, nil)
			require.NoError(t, err)
			defer func() { _ = tx1.Rollback() }()
			_, err = e.store.CreateTx(e.ctx, tx1, first)
			require.NoError(t, err)

			// A session queueing for the holding set (behind the first
			// Create) holds the second one between its look for the id and
			// its read of the holdings and reservations.
			pin, err := ext.BeginTxx(e.ctx, nil)
			require.NoError(t, err)
			defer func() { _ = pin.Rollback() }()
			pinned := make(chan error, 1)
			go func() {
				_, err := pin.ExecContext(e.ctx, `LOCK TABLE txhistory.token_holding IN EXCLUSIVE MODE`)
				pinned <- err
			}()
			require.True(t, lockWaiter(t, e.ctx, ext, "LOCK TABLE%", 10*time.Second))

			type result struct {
				w   *withdrawal.Withdrawal
				err error
			}
			done := make(chan result, 1)
			go func() {
				w, err := e.store.Create(e.ctx, second)
				done <- result{w, err}
			}()
			require.True(t, lockWaiter(t, e.ctx, ext, "%token_holding%FOR SHARE%", 10*time.Second), "the second Create does not queue for the holdings")
			require.NoError(t, tx1.Commit())
			require.NoError(t, <-pinned)
			require.NoError(t, pin.Rollback())

			res := <-done
			if tc.amount == "5" {
				require.NoError(t, res.err, "the same request again, concurrently")
				require.Equal(t, "wd-1", res.w.ID)
				require.Equal(t, withdrawal.StatusRequested, res.w.Status)
			} else {
				require.ErrorIs(t, res.err, withdrawal.ErrIDConflict, "another request with the id, concurrently")
			}
			require.Equal(t, map[string]string{cids[0]: "wd-1"}, e.reservations())
		})
	}
}

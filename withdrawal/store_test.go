package withdrawal_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

func TestCreate(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("60", "50", "40")

	r := e.request("wd-1", "100", cids[1], cids[0]) // order does not matter
	w := e.create(r)
	require.Equal(t, withdrawal.StatusRequested, w.Status)
	require.Equal(t, []string{cids[0], cids[1]}, w.ReservedHoldings)
	requireDec(t, "100", w.Amount)
	requireDec(t, "101", w.ReservedFunds)
	require.Equal(t, r.TrecTgt.UTC().Truncate(time.Microsecond), w.TrecTgt)
	require.False(t, w.CreatedAt.IsZero())
	require.Equal(t, map[string]string{cids[0]: "wd-1", cids[1]: "wd-1"}, e.reservations())

	got := e.get("wd-1")
	require.Equal(t, w, got)
	_, err := e.store.Get(e.ctx, "wd-nope")
	require.ErrorIs(t, err, withdrawal.ErrNotFound)

	t.Run("idempotent on id", func(t *testing.T) {
		again, err := e.store.Create(e.ctx, e.request("wd-1", "100", cids[0], cids[1]))
		require.NoError(t, err)
		require.Equal(t, w, again)
		r2 := r
		r2.Amount = dec("99")
		_, err = e.store.Create(e.ctx, r2)
		require.ErrorIs(t, err, withdrawal.ErrIDConflict)
		require.Contains(t, err.Error(), `"wd-1"`)
		r3 := r
		r3.ReservedHoldings = []string{cids[0], cids[1], cids[2]}
		_, err = e.store.Create(e.ctx, r3)
		require.ErrorIs(t, err, withdrawal.ErrIDConflict)
		require.Equal(t, map[string]string{cids[0]: "wd-1", cids[1]: "wd-1"}, e.reservations())
	})

	t.Run("lists by status", func(t *testing.T) {
		e.create(e.request("wd-2", "10", cids[2]))
		_, err := e.store.MarkSubmitted(e.ctx, "wd-2")
		require.NoError(t, err)
		ws, err := e.store.ListByStatus(e.ctx, withdrawal.StatusRequested)
		require.NoError(t, err)
		require.Len(t, ws, 1)
		require.Equal(t, "wd-1", ws[0].ID)
		ws, err = e.store.ListByStatus(e.ctx, withdrawal.StatusSubmitted, withdrawal.StatusRequested)
		require.NoError(t, err)
		require.Equal(t, []string{"wd-1", "wd-2"}, ids(ws))
		all, err := e.store.ListByStatus(e.ctx)
		require.NoError(t, err)
		require.Len(t, all, 2)
	})
}

func ids(ws []*withdrawal.Withdrawal) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.ID
	}
	return out
}

func TestCreateRefuses(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	e.mint("5")
	locked := e.world.LockOp(treasury, "5", ledgertest.HoldingLock{Holders: []string{"auditor::1"}})
	e.apply(e.world.Tx(locked))
	cids := e.mint("60", "50", "40", "30")
	lockedCID := locked.Created[0].ContractID
	usd := e.world.Instrument("USDX")
	usdOp := e.world.MintOp(treasury, "70", usd)
	e.apply(e.world.Tx(usdOp))
	e.create(e.request("wd-taken", "10", cids[0]))
	spent := e.create(e.request("wd-spent", "10", cids[3]))
	e.apply(e.transfer(spent, "0.1")) // cids[3] is archived now

	for _, c := range []struct {
		name string
		req  func() withdrawal.Request
		is   error
		text string
	}{
		{"unknown holding", func() withdrawal.Request { return e.request("wd-a", "10", "00nosuch") }, withdrawal.ErrHoldingUnavailable, "not in the holding set"},
		{"archived holding", func() withdrawal.Request { return e.request("wd-a", "10", cids[3]) }, withdrawal.ErrHoldingUnavailable, "archived"},
		{"locked holding", func() withdrawal.Request { return e.request("wd-a", "1", lockedCID) }, withdrawal.ErrHoldingUnavailable, "locked"},
		{"other instrument", func() withdrawal.Request { return e.request("wd-a", "10", usdOp.Created[0].ContractID) }, withdrawal.ErrHoldingUnavailable, "USDX"},
		{"reserved holding", func() withdrawal.Request { return e.request("wd-a", "10", cids[1], cids[0]) }, withdrawal.ErrHoldingReserved, `reserved by withdrawal "wd-taken"`},
		{"holdings short of the amount", func() withdrawal.Request { return e.request("wd-a", "50.5", cids[1]) }, withdrawal.ErrInvalidRequest, "less than the amount"},
		{"no holdings", func() withdrawal.Request { return e.request("wd-a", "1") }, withdrawal.ErrInvalidRequest, "no holdings"},
		{"holding twice", func() withdrawal.Request { return e.request("wd-a", "1", cids[1], cids[1]) }, withdrawal.ErrInvalidRequest, "twice"},
		{"zero amount", func() withdrawal.Request { return e.request("wd-a", "0", cids[1]) }, withdrawal.ErrInvalidRequest, "not positive"},
		{"amount finer than a token standard Decimal", func() withdrawal.Request { return e.request("wd-fine", "1.00000000001", cids[1]) }, withdrawal.ErrInvalidRequest, "more than 10 digits after the point"},
		{"id with spaces around", func() withdrawal.Request { return e.request(" wd-a", "1", cids[1]) }, withdrawal.ErrInvalidRequest, "not a withdrawal id"},
		{"empty id", func() withdrawal.Request { return e.request("", "1", cids[1]) }, withdrawal.ErrInvalidRequest, "not a withdrawal id"},
		{"no trecTgt", func() withdrawal.Request {
			r := e.request("wd-a", "1", cids[1])
			r.TrecTgt = time.Time{}
			return r
		}, withdrawal.ErrInvalidRequest, "trecTgt"},
		{"no receiver", func() withdrawal.Request {
			r := e.request("wd-a", "1", cids[1])
			r.Receiver = ""
			return r
		}, withdrawal.ErrInvalidRequest, "receiver"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.store.Create(e.ctx, c.req())
			require.ErrorIs(t, err, c.is)
			require.Contains(t, err.Error(), c.text)
			_, err = e.store.Get(e.ctx, "wd-a")
			require.ErrorIs(t, err, withdrawal.ErrNotFound, "a refused create left a row")
		})
	}
	var he *withdrawal.HoldingError
	_, err := e.store.Create(e.ctx, e.request("wd-a", "10", cids[0]))
	require.ErrorAs(t, err, &he)
	require.Equal(t, cids[0], he.ContractID)
	require.Equal(t, "wd-taken", he.ReservedBy)
	require.Equal(t, map[string]string{cids[0]: "wd-taken"}, e.reservations())

	t.Run("a refused CreateTx leaves the caller's transaction usable", func(t *testing.T) {
		tx, err := e.db.BeginTxx(e.ctx, nil)
		require.NoError(t, err)
		_, err = tx.ExecContext(e.ctx, `INSERT INTO public.refund VALUES ('marker', 'x', 1, 'x')`)
		require.NoError(t, err)
		_, err = e.store.CreateTx(e.ctx, tx, e.request("wd-b", "10", cids[0]))
		require.ErrorIs(t, err, withdrawal.ErrHoldingReserved)
		w, err := e.store.CreateTx(e.ctx, tx, e.request("wd-b", "10", cids[1]))
		require.NoError(t, err)
		require.Equal(t, withdrawal.StatusRequested, w.Status)
		require.NoError(t, tx.Commit())
		require.Contains(t, refunds(t, e.db), "marker")
		require.Equal(t, "wd-b", e.reservations()[cids[1]])
	})

	t.Run("the Treasury check", func(t *testing.T) {
		other, err := withdrawal.NewStore(e.db, withdrawal.Config{Treasury: "someone-else::1", Logger: quietLog})
		require.NoError(t, err)
		_, err = other.Create(e.ctx, e.request("wd-c", "10", cids[2]))
		require.ErrorIs(t, err, withdrawal.ErrHoldingUnavailable)
		require.Contains(t, err.Error(), "not the treasury")
	})

	t.Run("a stricter IsWithdrawalID", func(t *testing.T) {
		strict, err := withdrawal.NewStore(e.db, withdrawal.Config{Logger: quietLog,
			IsWithdrawalID: func(id string) bool { return strings.HasPrefix(id, "wd-") }})
		require.NoError(t, err)
		_, err = strict.Create(e.ctx, e.request("rebalance-1", "10", cids[2]))
		require.ErrorIs(t, err, withdrawal.ErrInvalidRequest)
	})
}

func TestGate(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10", "10")
	g, err := e.store.Gate(e.ctx)
	require.NoError(t, err)
	require.True(t, g.Enabled, "the migration opens the gate")

	require.NoError(t, e.store.Disable(e.ctx, "maintenance"))
	g, err = e.store.Gate(e.ctx)
	require.NoError(t, err)
	require.False(t, g.Enabled)
	require.Equal(t, "maintenance", g.Reason)
	_, err = e.store.Create(e.ctx, e.request("wd-1", "5", cids[0]))
	require.ErrorIs(t, err, withdrawal.ErrWithdrawalsDisabled)
	require.Contains(t, err.Error(), "maintenance")
	require.Empty(t, e.reservations())

	require.NoError(t, e.store.Enable(e.ctx, "done"))
	w := e.create(e.request("wd-1", "5", cids[0]))

	// While closed, a new request is refused; the same request again (a
	// retry after a lost reply) gets the stored withdrawal, not a "not
	// created" that could make the caller release the user's funds.
	require.NoError(t, e.store.Disable(e.ctx, "again"))
	again, err := e.store.Create(e.ctx, e.request("wd-1", "5", cids[0]))
	require.NoError(t, err)
	require.Equal(t, w.ID, again.ID)
	require.Equal(t, withdrawal.StatusRequested, again.Status)
	_, err = e.store.Create(e.ctx, e.request("wd-1", "6", cids[0]))
	require.ErrorIs(t, err, withdrawal.ErrIDConflict, "a different request under a stored id is a conflict, gate or not")
	_, err = e.store.Create(e.ctx, e.request("wd-2", "5", cids[1]))
	require.ErrorIs(t, err, withdrawal.ErrWithdrawalsDisabled)
	require.ErrorContains(t, err, `withdrawal "wd-2" not created`)

	// EnableAfter opens only past tSafe, as the ingested record time says.
	ingestedNow := e.times[ledgertest.DefaultSynchronizer]
	tSafe := ingestedNow.Add(time.Minute)
	opened, at, err := e.store.EnableAfter(e.ctx, tSafe, "restore done")
	require.NoError(t, err)
	require.False(t, opened)
	require.Equal(t, ingestedNow, at)
	e.tick(tSafe) // equal is not after
	opened, _, err = e.store.EnableAfter(e.ctx, tSafe, "restore done")
	require.NoError(t, err)
	require.False(t, opened)
	e.tick(tSafe.Add(time.Microsecond))
	opened, at, err = e.store.EnableAfter(e.ctx, tSafe, "restore done")
	require.NoError(t, err)
	require.True(t, opened)
	require.Equal(t, tSafe.Add(time.Microsecond), at)

	log, err := e.store.GateLog(e.ctx)
	require.NoError(t, err)
	require.Len(t, log, 4)
	require.Equal(t, []bool{false, true, false, true}, []bool{log[0].Enabled, log[1].Enabled, log[2].Enabled, log[3].Enabled})
	last := log[3]
	require.Equal(t, "restore done", last.Reason)
	require.Equal(t, tSafe, last.TSafe)
	require.True(t, last.IngestedRecordTime.After(last.TSafe))
	require.True(t, log[0].TSafe.IsZero())
	require.Equal(t, withdrawal.StatusRequested, e.get(w.ID).Status)
}

// TestDisableWaitsForCreates shows the gate as a barrier: Disable waits for
// a Create in flight, and a Create that starts while Disable waits is
// refused.
func TestDisableWaitsForCreates(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10", "10")
	tx, err := e.db.BeginTxx(e.ctx, nil)
	require.NoError(t, err)
	_, err = e.store.CreateTx(e.ctx, tx, e.request("wd-1", "5", cids[0]))
	require.NoError(t, err)

	disabled := make(chan error, 1)
	go func() { disabled <- e.store.Disable(e.ctx, "restore") }()
	require.True(t, lockWaiter(t, e.ctx, e.db, "%withdrawal_gate%", 10*time.Second), "Disable does not wait for the create in flight")
	second := make(chan error, 1)
	go func() {
		_, err := e.store.Create(e.ctx, e.request("wd-2", "5", cids[1]))
		second <- err
	}()
	// The second Create's read of the gate queues behind Disable.
	require.True(t, lockWaiter(t, e.ctx, e.db, "%withdrawal_gate%FOR SHARE%", 10*time.Second),
		"the Create started while Disable waits did not queue behind it")
	select {
	case err := <-disabled:
		t.Fatalf("Disable returned while a create was in flight: %v", err)
	default:
	}
	require.NoError(t, tx.Commit())
	require.NoError(t, <-disabled)
	require.ErrorIs(t, <-second, withdrawal.ErrWithdrawalsDisabled)
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-1").Status)
}

// TestConcurrentCreatesOfOneHolding: many creates race for the same
// holdings; exactly one wins each.
func TestConcurrentCreatesOfOneHolding(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10", "10", "10")
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := map[string][]string{}
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hs := []string{cids[i%3], cids[(i+1)%3]}
			id := "wd-race-" + string(rune('a'+i))
			_, err := e.store.Create(context.Background(), e.request(id, "15", hs...))
			if err == nil {
				mu.Lock()
				won[id] = hs
				mu.Unlock()
				return
			}
			if !errors.Is(err, withdrawal.ErrHoldingReserved) {
				t.Errorf("create %s: %v", id, err)
			}
		}()
	}
	wg.Wait()
	require.Len(t, won, 1, "two holdings out of three: only one withdrawal can have both")
	res := e.reservations()
	require.Len(t, res, 2)
	for id, hs := range won {
		for _, h := range hs {
			require.Equal(t, id, res[h])
		}
	}
	var n int
	require.NoError(t, e.db.Get(&n, `SELECT count(*) FROM txhistory.withdrawal`))
	require.Equal(t, 1, n)
}

package embedcheck

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/shopspring/decimal"
)

func TestEmbedStoreInputs(t *testing.T) {
	e := newExch(t)
	ws, err := e.store.ListByStatus(e.ctx, "bogus")
	t.Logf("list bogus: %v %v", ws, err)
	_, err = e.store.MarkFailed(e.ctx, "nope", "x")
	t.Logf("markfailed: %v", err)
	_, err = e.store.MarkSubmitted(e.ctx, "nope")
	t.Logf("marksubmitted: %v", err)
	_, err = e.store.ApplyOutcome(e.ctx, withdrawal.Outcome{ID: "nope", Status: withdrawal.StatusCompleted, UpdateID: "u", Offset: 1, RecordTime: time.Now()})
	t.Logf("apply unknown: %v", err)
	_, err = e.store.ApplyOutcome(e.ctx, withdrawal.Outcome{ID: "nope", Status: "bogus"})
	t.Logf("apply bogus: %v", err)
	_, err = e.store.ApplyOutcome(e.ctx, withdrawal.Outcome{ID: "nope", Status: withdrawal.StatusRequested})
	t.Logf("apply requested: %v", err)
	_, err = e.store.ExpireDue(e.ctx, nil)
	t.Logf("expiredue nil: %v", err)
	opened, ing, err := e.store.EnableAfter(e.ctx, time.Time{}, "x")
	t.Logf("enableafter zero: %v %v %v", opened, ing, err)
	_, err = e.store.Create(e.ctx, withdrawal.Request{ID: "wd", UserAccount: "u", Amount: decimal.RequireFromString("1"),
		Instrument: inst(e.world.Instrument()), Receiver: external, ReservedHoldings: []string{"x"}, TrecTgt: time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)})
	t.Logf("create far future: %v", err)
	_, err = e.store.Create(e.ctx, withdrawal.Request{ID: "wd", UserAccount: "u", Amount: decimal.RequireFromString("1e400"),
		Instrument: inst(e.world.Instrument()), Receiver: external, ReservedHoldings: []string{"x"}, TrecTgt: time.Now()})
	t.Logf("create huge amount: %v", err)
}

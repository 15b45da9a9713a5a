package embedcheck

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/shopspring/decimal"
)

func TestEmbedConcurrentReserve(t *testing.T) {
	e := newExch(t)
	e.start()
	op := e.world.MintOp(treasury, "100")
	op2 := e.world.MintOp(treasury, "100")
	if _, err := e.p.Append(e.world.Tx(op, op2)); err != nil {
		t.Fatal(err)
	}
	e.caughtUp()
	c1, c2 := op.Created[0].ContractID, op2.Created[0].ContractID
	for round := 0; round < 5; round++ {
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				hs := []string{c1, c2}
				if i%2 == 1 {
					hs = []string{c2, c1}
				}
				_, errs[i] = e.store.Create(e.ctx, withdrawal.Request{
					ID: fmt.Sprintf("wd-%d-%d", round, i), UserAccount: "u", Amount: decimal.RequireFromString("10"), Instrument: inst(e.world.Instrument()),
					Receiver: external, ReservedHoldings: hs, TrecTgt: time.Now().Add(time.Hour),
				})
			}(i)
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, withdrawal.ErrHoldingReserved):
			default:
				t.Errorf("round %d create %d: %v", round, i, err)
			}
		}
		if round == 0 && ok != 1 {
			t.Errorf("round %d: %d creates won", round, ok)
		}
	}
	_ = e.stop()
}

package embedcheck

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/shopspring/decimal"
)

func TestEmbedConcurrentStoreAndAutomation(t *testing.T) {
	e := newExch(t)
	e.start()
	var ops []ledgertest.TokenOp
	for i := 0; i < 20; i++ {
		ops = append(ops, e.world.MintOp(treasury, "10"))
	}
	if _, err := e.p.Append(e.world.Tx(ops...)); err != nil {
		t.Fatal(err)
	}
	e.caughtUp()
	var mu sync.Mutex
	sub := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		mu.Lock()
		defer mu.Unlock()
		tr := e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: w.Amount.String(), Reason: w.ID, InputHoldings: w.ReservedHoldings})
		_, err := e.p.Append(tr)
		return err
	})
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: sub, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(e.ctx)
	adone := make(chan error, 1)
	go func() { adone <- auto.Run(actx) }()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := e.store.Create(e.ctx, withdrawal.Request{
				ID: fmt.Sprintf("wd-%d", i), UserAccount: "u", Amount: decimal.RequireFromString("10"), Instrument: inst(e.world.Instrument()),
				Receiver: external, ReservedHoldings: []string{ops[i].Created[0].ContractID}, TrecTgt: time.Now().Add(time.Hour),
			})
			if err != nil && !errors.Is(err, withdrawal.ErrWithdrawalsDisabled) {
				t.Errorf("create %d: %v", i, err)
			}
			if _, err := e.store.Gate(e.ctx); err != nil {
				t.Error(err)
			}
			if i%7 == 0 {
				_ = e.store.Disable(e.ctx, "x")
				_ = e.store.Enable(e.ctx, "y")
			}
			_, _ = auto.RunOnce(e.ctx)
		}(i)
	}
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ws, err := e.store.ListByStatus(e.ctx, withdrawal.StatusRequested, withdrawal.StatusSubmitted)
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d still open", len(ws))
		}
		time.Sleep(20 * time.Millisecond)
	}
	acancel()
	<-adone
	done, _ := e.store.ListByStatus(e.ctx, withdrawal.StatusCompleted)
	t.Logf("completed %d", len(done))
	if err := e.stop(); err != nil {
		t.Fatal(err)
	}
}

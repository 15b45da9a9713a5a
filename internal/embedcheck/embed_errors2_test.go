package embedcheck

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/tokenstd"
)

func TestEmbedPrunedAndBeyond(t *testing.T) {
	e := newExch(t)
	for i := 0; i < 5; i++ {
		if _, err := e.p.Append(e.world.Mint(treasury, "1")); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.p.Prune(3); err != nil {
		t.Fatal(err)
	}
	ing, _ := ingest.New(e.db, e.client, ingest.Config{Parties: []string{treasury}, Logger: quiet})
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	err := ing.Run(ctx)
	var pe *ledger.PrunedError
	t.Logf("pruned: %v", err)
	if !errors.Is(err, ledger.ErrPruned) || !errors.As(err, &pe) {
		t.Errorf("pruned: %v", err)
	}
	// checkpoint beyond ledger end
	ing2, _ := ingest.New(e.db, e.client, ingest.Config{Parties: []string{treasury}, Logger: quiet, StartOffset: 50, MaxAttempts: 2, LedgerEndPoll: 10 * time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	err = ing2.Run(ctx)
	t.Logf("beyond: %v", err)
}

func TestEmbedParseErrorAs(t *testing.T) {
	e := newExch(t)
	tx := e.world.Mint(treasury, "1")
	// corrupt the holding view amount
	tx2 := e.world.Mint(treasury, "2")
	for _, ev := range tx2.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok {
			for i := range c.InterfaceViews {
				c.InterfaceViews[i].StatusCode, c.InterfaceViews[i].StatusMessage = 13, "view failed"
			}
		}
	}
	if _, err := e.p.Append(tx, tx2); err != nil {
		t.Fatal(err)
	}
	history, _ := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quiet})
	ing, _ := ingest.New(e.db, e.client, ingest.Config{Parties: []string{treasury}, Handler: history, Logger: quiet})
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	err := ing.Run(ctx)
	var pe *tokenstd.ParseError
	t.Logf("parse: %v", err)
	if !errors.As(err, &pe) {
		t.Errorf("parse: %v", err)
	}
}

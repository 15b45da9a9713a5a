package withdrawal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/shopspring/decimal"
)

// TestEmbedAutomationSharingAPoolOfTwoWithTheIngester: an exchange runs the
// Ingester and the Automation on one pool of two connections, which each
// accepts alone (ingest: batches one after the other; NewAutomation: two
// connections). The Ingester's lock holds one for good; a round that took
// the other to record its attempt must not wait for ever for a second one,
// holding the pool's last connection: the round fails, saying why, and
// ingestion goes on instead of stalling with no error.
func TestEmbedAutomationSharingAPoolOfTwoWithTheIngester(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.NewDB(t)
	if err := schema.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(2)
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(10 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{History: history})
	if err != nil {
		t.Fatal(err)
	}
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{treasury}, Handler: ingest.Handlers(history, rec), Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ing.Run(runCtx) }()
	defer func() { stop(); <-done }()
	caughtUp := func(within time.Duration) bool { // asks the Ingester, not the pool
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if ing.Stats().Offset >= p.LedgerEnd() {
				return true
			}
			time.Sleep(10 * time.Millisecond)
		}
		return false
	}

	w := &ledgertest.TokenWorld{}
	mint := w.MintOp(treasury, "100")
	if _, err := p.Append(w.Tx(mint)); err != nil {
		t.Fatal(err)
	}
	if !caughtUp(10 * time.Second) {
		t.Fatal("not caught up")
	}
	if _, err := store.Create(ctx, withdrawal.Request{ID: "wd-1", UserAccount: "u1", Amount: decimal.RequireFromString("10"),
		Instrument: tokenstd.Instrument{Admin: w.Instrument().Admin, ID: w.Instrument().ID}, Receiver: "bob::1",
		ReservedHoldings: []string{mint.Created[0].ContractID}, ReservedFunds: decimal.RequireFromString("10"), TrecTgt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	auto, err := withdrawal.NewAutomation(store, withdrawal.AutomationConfig{PollInterval: 200 * time.Millisecond,
		Submitter: withdrawal.SubmitFunc(func(context.Context, *withdrawal.Withdrawal) error { return nil })})
	if err != nil {
		t.Fatal(err)
	}

	roundCtx, roundCancel := context.WithTimeout(ctx, 10*time.Second)
	defer roundCancel()
	waits := db.Stats().WaitCount
	rounds := make(chan error, 1)
	go func() {
		_, err := auto.RunOnce(roundCtx)
		rounds <- err
	}()
	for db.Stats().WaitCount == waits { // the round holds a connection and waits for another
		time.Sleep(time.Millisecond)
	}
	if _, err := p.Append(w.Tx(w.MintOp(treasury, "5"))); err != nil {
		t.Fatal(err)
	}
	if !caughtUp(8 * time.Second) {
		t.Error("ingestion stalled while the Automation's round waited for a second connection")
	}
	select {
	case err := <-rounds:
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("round: %v, want an error saying that the pool had no second connection", err)
		}
		t.Logf("round: %v", err)
	case <-time.After(10 * time.Second):
		t.Error("the round did not end")
	}
}

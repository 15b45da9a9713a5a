package withdrawal_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// live is the whole integration running: a fake participant, the real
// Ingester tailing it with the History handler and the Reconciler, and a
// TokenWorld scripting the ledger (offsets, update ids and record times
// assigned by the participant).
type live struct {
	t      *testing.T
	ctx    context.Context
	db     *sqlx.DB
	p      *ledgertest.Participant
	client *ledger.Client
	world  *ledgertest.TokenWorld
	store  *withdrawal.Store
	cps    *checkpoint.Store
	rcfg   withdrawal.ReconcilerConfig
	// credit, if set, is the History's deposit crediter.
	credit tokenstd.DepositCrediter
	// ingLog, if set, is startCrediting's Ingester's logger (default
	// quietLog).
	ingLog *slog.Logger

	now     time.Time // the participant's latest record time
	stopIng context.CancelFunc
	ingDone chan error
}

func newLive(t *testing.T, db *sqlx.DB, rcfg withdrawal.ReconcilerConfig) *live {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	require.NoError(t, schema.Migrate(ctx, db))
	require.NoError(t, createExchangeTables(ctx, db))
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(10 * time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	cps, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	l := &live{t: t, ctx: ctx, db: db, p: p, client: client, world: &ledgertest.TokenWorld{}, store: store, cps: cps, rcfg: rcfg}
	t.Cleanup(l.stopIngester)
	return l
}

// startIngester starts a tailing Ingester with History and Reconciler.
func (l *live) startIngester() {
	l.t.Helper()
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Credit: l.credit, Logger: quietLog})
	require.NoError(l.t, err)
	rcfg := l.rcfg
	rcfg.History = history
	rec, err := withdrawal.NewReconciler(l.store, rcfg)
	require.NoError(l.t, err)
	ing, err := ingest.New(l.db, l.client, ingest.Config{
		Parties: []string{treasury}, Handler: ingest.Handlers(history, rec), Logger: quietLog,
		MaxBatchSize: 16, MaxBatchDelay: 5 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		LockPoll: 20 * time.Millisecond,
	})
	require.NoError(l.t, err)
	ctx, cancel := context.WithCancel(l.ctx)
	l.stopIng, l.ingDone = cancel, make(chan error, 1)
	go func() { l.ingDone <- ing.Run(ctx) }()
}

// stopIngester stops the Ingester, which must not have failed.
func (l *live) stopIngester() {
	if l.stopIng == nil {
		return
	}
	l.stopIng()
	err := <-l.ingDone
	l.stopIng = nil
	if err != nil && !errors.Is(err, context.Canceled) {
		l.t.Errorf("ingester: %v", err)
	}
}

// append puts transactions on the ledger and returns them as stored.
func (l *live) append(txs ...*ledger.Transaction) []*ledger.Transaction {
	l.t.Helper()
	out, err := l.p.Append(txs...)
	require.NoError(l.t, err)
	for _, tx := range out {
		if tx.RecordTime.After(l.now) {
			l.now = tx.RecordTime
		}
	}
	return out
}

// advance moves the ledger's record time by d without a transaction.
func (l *live) advance(d time.Duration) {
	l.now = l.now.Add(d)
	l.p.AdvanceTime("", l.now)
}

// caughtUp waits until ingestion has reached the ledger end and its record
// time.
func (l *live) caughtUp() {
	l.t.Helper()
	end := l.p.LedgerEnd()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-l.ingDone:
			l.stopIng = nil
			l.t.Fatalf("ingester stopped: %v", err)
		default:
		}
		cp, _, err := l.cps.Get(l.ctx, l.db)
		if err != nil && ingest.IsTransientDBError(err) && time.Now().Before(deadline) {
			// A poll is a read an exchange would retry: under a DBA's
			// idle_session_timeout, a statement that reaches the server
			// as it ends the idle session fails with "connection reset
			// by peer", which database/sql cannot retry for lib/pq.
			l.t.Logf("caughtUp: checkpoint read failed, polling again: %v", err)
			time.Sleep(5 * time.Millisecond)
			continue
		}
		require.NoError(l.t, err)
		if cp.Offset >= end && !cp.MaxRecordTime().Before(l.now) {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("ingestion did not catch up: checkpoint offset %d, ledger end %d", cp.Offset, end)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mintAndCatchUp mints holdings of the given amounts (mint), starts the
// ingester and waits until it has caught up; it returns the holdings'
// contract ids.
func (l *live) mintAndCatchUp(amounts ...string) []string {
	l.t.Helper()
	cids := l.mint(amounts...)
	l.startIngester()
	l.caughtUp()
	return cids
}

// submitted creates the withdrawal id of amount from holding and marks it
// submitted.
func (l *live) submitted(id, amount, holding string) *withdrawal.Withdrawal {
	l.t.Helper()
	return l.submittedOn("", id, amount, holding)
}

// submittedOn is submitted with the request naming synchronizer sync
// (Request.SynchronizerID; "": none).
func (l *live) submittedOn(sync, id, amount, holding string) *withdrawal.Withdrawal {
	l.t.Helper()
	r := l.request(id, amount, holding)
	r.SynchronizerID = sync
	w, err := l.store.Create(l.ctx, r)
	require.NoError(l.t, err)
	w, err = l.store.MarkSubmitted(l.ctx, w.ID)
	require.NoError(l.t, err)
	return w
}

// mint gives the treasury holdings of the given amounts, in one
// transaction, and returns their contract ids.
func (l *live) mint(amounts ...string) []string {
	var ops []ledgertest.TokenOp
	var cids []string
	for _, a := range amounts {
		op := l.world.MintOp(treasury, a)
		ops = append(ops, op)
		cids = append(cids, op.Created[0].ContractID)
	}
	l.append(l.world.Tx(ops...))
	return cids
}

// request is a withdrawal to external of the default instrument, trecTgt
// the ledger's record time + ttl.
func (l *live) request(id, amount string, holdings ...string) withdrawal.Request {
	return withdrawal.Request{
		ID: id, UserAccount: "user-" + id, Amount: dec(amount), Instrument: instrument(l.world.Instrument()), Receiver: external,
		ReservedHoldings: holdings, ReservedFunds: dec(amount).Add(dec("1")), TrecTgt: l.now.Add(ttl),
	}
}

func (l *live) get(id string) *withdrawal.Withdrawal {
	l.t.Helper()
	w, err := l.store.Get(l.ctx, id)
	require.NoError(l.t, err)
	return w
}

// requireBalancesMatch compares the treasury's balances in the holding set
// with the ledger's.
func (l *live) requireBalancesMatch() {
	l.t.Helper()
	got, err := tokenstd.Balances(l.ctx, l.db, schema.DefaultName)
	require.NoError(l.t, err)
	want := l.world.Balances(treasury)
	require.Len(l.t, got, len(want))
	for inst, amt := range want {
		require.True(l.t, amt.Equal(got[instrument(inst)]), "balance of %s: ledger %s, Integration DB %s", inst, amt, got[instrument(inst)])
	}
}

package ingest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
)

// endSource is a Source whose ledger end stays at end: an Ingester with an
// EndOffset beyond it holds the lock and waits for the ledger end, calling
// LedgerEnd in each session. Each call is reported on called (if not
// full); with block set, LedgerEnd waits for its context instead of
// answering.
type endSource struct {
	end    int64
	called chan struct{}
	block  bool
}

func newEndSource(end int64, block bool) *endSource {
	return &endSource{end: end, called: make(chan struct{}, 1), block: block}
}

func (s *endSource) LedgerEnd(ctx context.Context) (int64, error) {
	select {
	case s.called <- struct{}{}:
	default:
	}
	if s.block {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return s.end, nil
}

func (s *endSource) Updates(context.Context, ledger.UpdatesRequest) (*ledger.UpdateStream, error) {
	return nil, errors.New("endSource: no updates (the ledger end is short of EndOffset)")
}

var nopHandler = ingest.HandlerFunc(func(context.Context, *sqlx.Tx, *ingest.Batch) error { return nil })

func rv19Config(lock ingest.LockPolicy) ingest.Config {
	return ingest.Config{
		Parties: []string{"treasury::1"}, Handler: nopHandler, Lock: lock,
		EndOffset: 1000, LedgerEndPoll: 5 * time.Millisecond, LockPoll: 5 * time.Millisecond,
	}
}

func rv19DB(t *testing.T, ctx context.Context) *sqlx.DB {
	t.Helper()
	db := pgtest.NewDB(t)
	if err := schema.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	return db
}

// startHolding runs an Ingester on src and returns once it holds the lock
// (its session asked src for the ledger end), with a function that stops
// it and waits for its Run.
func startHolding(t *testing.T, ctx context.Context, db *sqlx.DB, src *endSource, cfg ingest.Config) (*ingest.Ingester, func()) {
	t.Helper()
	ing, err := ingest.New(db, src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	select {
	case <-src.called:
	case err := <-done:
		t.Fatalf("Run returned %v before it held the lock", err)
	}
	return ing, func() {
		ing.Stop()
		if err := <-done; err != nil {
			t.Errorf("Run after Stop: %v", err)
		}
	}
}

// TestRV19StopIsNotLostToARunThatFails: Stop, "called while none runs",
// ends "the next" Run. A standby under LockFail is run in a loop until it
// gets the lock (ErrAnotherIngester otherwise); the operator stops it
// between two attempts. The next Run fails with ErrAnotherIngester before
// it looks at the Stop, and its return re-arms the stop channel: the Stop
// is gone, and the Run after it takes the lock once the active ingester
// has gone and ingests for ever. The same happens to a Stop that arrives
// while a Run is returning an error (a supervisor restarting Run on
// errors never stops).
func TestRV19StopIsNotLostToARunThatFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := rv19DB(t, ctx)
	_, stopActive := startHolding(t, ctx, db, newEndSource(0, false), rv19Config(ingest.LockWait))

	src := newEndSource(0, false)
	standby, err := ingest.New(db, src, rv19Config(ingest.LockFail))
	if err != nil {
		t.Fatal(err)
	}
	standby.Stop() // between two attempts: the next Run is to end
	if err := standby.Run(ctx); err != nil && !errors.Is(err, ingest.ErrAnotherIngester) {
		t.Fatalf("standby Run: %v", err)
	}
	stopActive()

	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	done := make(chan error, 1)
	go func() { done <- standby.Run(rctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the stopped standby's Run: %v", err)
		}
	case <-src.called:
		rcancel()
		<-done
		t.Fatal("the Stop was lost: the standby's next Run took the lock and ingests (state " + string(standby.Stats().State) + ")")
	}
}

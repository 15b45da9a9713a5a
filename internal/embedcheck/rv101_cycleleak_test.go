package embedcheck

import (
	"context"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"google.golang.org/grpc/codes"
)

// TestCyclesLeakNothing runs the Ingester (History and Reconciler) and an
// Automation through many Run/Stop cycles, each with a fault (stream drops,
// Unavailable, token expiry, a PostgreSQL restart, the lock's session
// terminated, a stalled stream, a participant restart), and checks that
// goroutines and PostgreSQL sessions do not grow with the cycles (the heap
// is logged).
func TestCyclesLeakNothing(t *testing.T) { cyclesLeak(t, false, false) }

// TestReusedCyclesLeakNothing runs one Ingester and one Automation again and
// again, ended by Stop and by their context in turn.
func TestReusedCyclesLeakNothing(t *testing.T) { cyclesLeak(t, false, true) }

// TestOneRunFaultsLeakNothing is the same with one Run through all the
// faults, counted while it runs.
func TestOneRunFaultsLeakNothing(t *testing.T) { cyclesLeak(t, true, false) }

func cyclesLeak(t *testing.T, oneRun, reuse bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	srv := pgtest.NewServer(t, pgtest.ServerOptions{})
	admin, err := sqlx.Open("postgres", srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE cycles`); err != nil {
		t.Fatal(err)
	}
	db, err := sqlx.Open("postgres", srv.DSN("cycles"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := schema.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	const token = "cycles-token"
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(10*time.Millisecond), ledgertest.WithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { p.Close() }()
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true, Tokens: ledger.StaticToken(token)}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	world := &ledgertest.TokenWorld{}
	cps, _ := checkpoint.NewStore(schema.DefaultName)

	sessions := func() int {
		var n int
		if err := admin.GetContext(ctx, &n, `SELECT count(*) FROM pg_stat_activity WHERE datname = 'cycles'`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var ing *ingest.Ingester
	var done chan error
	var rcancel context.CancelFunc = func() {}
	var auto *withdrawal.Automation
	start := func() {
		if reuse && ing != nil {
			var rctx context.Context
			rctx, rcancel = context.WithCancel(ctx)
			done = make(chan error, 1)
			go func() { done <- ing.Run(rctx) }()
			return
		}
		history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{History: history})
		if err != nil {
			t.Fatal(err)
		}
		ing, err = ingest.New(db, client, ingest.Config{
			Parties: []string{treasury}, Handler: ingest.Handlers(history, rec), Logger: quiet,
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, LockPoll: 50 * time.Millisecond,
			LockCheck: 50 * time.Millisecond, StallTimeout: 300 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		var rctx context.Context
		rctx, rcancel = context.WithCancel(ctx)
		done = make(chan error, 1)
		go func() { done <- ing.Run(rctx) }()
	}
	stop := func(i int) {
		if reuse && i%2 == 1 {
			rcancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("cycle %d: Run returned %v", i, err)
			}
			return
		}
		ing.Stop()
		if err := <-done; err != nil {
			t.Fatalf("cycle %d: Run returned %v", i, err)
		}
		rcancel()
	}
	cycle := func(i int) {
		if !oneRun {
			start()
		}
		if auto == nil || !reuse {
			auto, err = withdrawal.NewAutomation(store, withdrawal.AutomationConfig{
				Submitter: withdrawal.SubmitFunc(func(context.Context, *withdrawal.Withdrawal) error { return nil }), PollInterval: 10 * time.Millisecond, Logger: quiet,
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		actx, acancel := context.WithCancel(ctx)
		adone := make(chan error, 1)
		go func() { adone <- auto.Run(actx) }()

		for j := 0; j < 5; j++ {
			if _, err := p.Append(world.Mint(treasury, "1")); err != nil {
				t.Fatal(err)
			}
		}
		switch i % 7 {
		case 0:
			p.DropStreamsAfter(2)
			time.Sleep(100 * time.Millisecond)
			p.DropStreamsAfter(0)
		case 1:
			p.FailNext("GetUpdates", 2, codes.Unavailable)
		case 2:
			p.ExpireTokenOnStreams()
		case 3:
			if err := srv.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			if err := srv.Start(ctx); err != nil {
				t.Fatal(err)
			}
		case 4:
			// The lock's session ends (pg_terminate_backend): the
			// Ingester takes the lock again on another one.
			time.Sleep(50 * time.Millisecond)
			if _, err := admin.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = 'cycles')`); err != nil {
				t.Fatal(err)
			}
		case 5:
			// The stream goes silent for longer than StallTimeout.
			p.StallStreams(true)
			time.Sleep(500 * time.Millisecond)
			p.StallStreams(false)
		case 6:
			// The participant restarts on its address, with its history.
			addr, history := p.Addr(), p.Transactions()
			p.Close()
			lis, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			if p, err = ledgertest.New(ledgertest.WithListener(lis), ledgertest.WithCheckpointInterval(10*time.Millisecond), ledgertest.WithToken(token)); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Append(history...); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.Append(world.Mint(treasury, "1")); err != nil {
			t.Fatal(err)
		}
		end := p.LedgerEnd()
		deadline := time.Now().Add(60 * time.Second)
		for {
			cp, _, err := cps.Get(ctx, db)
			if err == nil && cp.Offset >= end {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cycle %d: not caught up to %d: %+v %v", i, end, cp, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		acancel()
		<-adone
		if !oneRun {
			stop(i)
		}
	}
	if oneRun {
		start()
		defer stop(-1)
	}

	cycle(0) // warm the client, the pool and the participant's streams
	settle := func(max int) int {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > max && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		return runtime.NumGoroutine()
	}
	baseG := settle(0)
	baseS := sessions()
	t.Logf("after warm-up: %d goroutines, %d sessions", baseG, baseS)
	n := 12
	if oneRun {
		n = 40
	}
	for i := 1; i <= n; i++ {
		cycle(i)
		g := settle(baseG)
		s := sessions()
		st := db.Stats()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		t.Logf("cycle %d: %d goroutines, %d sessions, pool open %d in use %d, heap %d KiB", i, g, s, st.OpenConnections, st.InUse, ms.HeapAlloc>>10)
	}
	errs := ing.Stats().Errors
	t.Logf("streams opened %d, faults counted by the last Ingester %v", p.Calls("GetUpdates"), errs)
	if oneRun && (errs["stream"] == 0 || errs["database"] == 0) {
		t.Errorf("the faults were not met: %v", errs)
	}
	g, s := settle(baseG), sessions()
	if g > baseG+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines grew from %d to %d over %d cycles\n%s", baseG, g, n, buf[:runtime.Stack(buf, true)])
	}
	if s > baseS+2 {
		t.Errorf("PostgreSQL sessions grew from %d to %d over %d cycles", baseS, s, n)
	}
}

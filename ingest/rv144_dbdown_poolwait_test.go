package ingest_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faultDialer dials PostgreSQL normally until a fault is armed; then,
// after letting passes more dials through, a dial either waits until its
// context ends (a host that drops packets) or is refused at once (a
// server that is down).
type faultDialer struct {
	d      net.Dialer
	fault  atomic.Int32 // 0 none, 1 no answer, 2 refused
	passes atomic.Int32
}

func (f *faultDialer) arm(fault, passes int32) { f.passes.Store(passes); f.fault.Store(fault) }

func (f *faultDialer) Dial(network, address string) (net.Conn, error) {
	return f.DialContext(context.Background(), network, address)
}

func (f *faultDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return f.DialContext(ctx, network, address)
}

func (f *faultDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if fault := f.fault.Load(); fault != 0 && f.passes.Add(-1) < 0 {
		if fault == 1 {
			<-ctx.Done()
			return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
		}
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	return f.d.DialContext(ctx, network, address)
}

// A database that stops answering new connections, or refuses them, while
// the Ingester on a pool with a limit holds its lock, met by the wait for
// a pool connection at the checkpoint's load before the stream and at a
// batch's start: Run counts database errors, Stop ends it, and it resumes
// once the database answers, committing every transaction once.
func TestDatabaseDownAtEachPoolWait(t *testing.T) {
	for _, fault := range []struct {
		name string
		code int32
	}{{"no answer", 1}, {"refused", 2}} {
		for _, place := range []string{"checkpoint load", "batch start"} {
			t.Run(fmt.Sprintf("%s at %s", fault.name, place), func(t *testing.T) {
				testDatabaseDownAt(t, fault.code, place)
			})
		}
	}
}

// faultRig is a migrated database on a pool of 3 connections, each dialled
// anew through a faultDialer (connect_timeout 1 s), and a participant.
func faultRig(t *testing.T) (context.Context, *sqlx.DB, *faultDialer, *ledgertest.Participant, *ledger.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	conn, err := pq.NewConnector(pgtest.NewDSN(t) + "&connect_timeout=1")
	require.NoError(t, err)
	dialer := &faultDialer{}
	conn.Dialer(dialer)
	db := sqlx.NewDb(sql.OpenDB(conn), "postgres")
	t.Cleanup(func() { db.Close() })
	require.NoError(t, schema.Migrate(ctx, db))
	db.SetMaxOpenConns(3)
	db.SetMaxIdleConns(0) // every connection dialled anew

	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(10 * time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	return ctx, db, dialer, p, client
}

func testDatabaseDownAt(t *testing.T, fault int32, place string) {
	ctx, db, dialer, p, client := faultRig(t)
	var w ledgertest.TokenWorld
	_, err := p.Append(w.Mint("hot::1", "10"))
	require.NoError(t, err)

	logs := &syncbuf.Buffer{}
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"hot::1"}, LockCheck: 2 * time.Second,
		MaxBackoff: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	require.NoError(t, err)
	dbErrors := func() int64 { return ing.Stats().Errors["database"] }
	atEnd := func() bool { return ing.Stats().Offset == p.LedgerEnd() }
	mints := 1
	mint := func() {
		mints++
		_, err := p.Append(w.Mint("hot::1", fmt.Sprint(10+mints)))
		require.NoError(t, err)
	}
	// down makes the database fail at place (the lock's connection still
	// dialled at the checkpoint's load) and run start Run, if it is not
	// running, and waits for Run to count a database fault there.
	down := func(run func()) {
		before := dbErrors()
		if place == "checkpoint load" {
			dialer.arm(fault, 1)
			run()
		} else {
			dialer.arm(fault, 0)
			mint()
		}
		if !assert.Eventually(t, func() bool { return dbErrors() > before }, 15*time.Second, 10*time.Millisecond) {
			t.Fatalf("no database fault counted while the database was down at %s (state %s):\n%s", place, ing.Stats().State, logs.String())
		}
		if place == "batch start" {
			require.Eventually(t, func() bool { return ing.Stats().State == ingest.StateRetrying }, 5*time.Second, 10*time.Millisecond)
		}
	}
	healAndCatchUp := func() {
		dialer.arm(0, 0)
		if !assert.Eventually(t, atEnd, 15*time.Second, 10*time.Millisecond) {
			t.Fatalf("Run did not resume once the database answered again (state %s):\n%s", ing.Stats().State, logs.String())
		}
	}
	stop := func(done <-chan error, what string) {
		ing.Stop()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			dialer.arm(0, 0)
			t.Fatalf("Run did not return within 10s of Stop while %s (state %s):\n%s", what, ing.Stats().State, logs.String())
		}
	}

	// Down, then the database answers again: the same Run resumes.
	var done <-chan error
	run := func() { done = runInBackground(t, ctx, ing) }
	if place == "batch start" {
		run()
		require.Eventually(t, atEnd, 10*time.Second, 10*time.Millisecond)
	}
	down(run)
	healAndCatchUp()
	if place == "checkpoint load" {
		stop(done, "streaming")
	}
	// Down, and Stop while it is: Run returns nil; the next Run, the
	// database answering, commits what is left.
	down(run)
	stop(done, "the database was down at "+place)
	dialer.arm(0, 0)
	mint()
	run()
	healAndCatchUp()
	stop(done, "streaming")

	st := ing.Stats()
	require.Equal(t, int64(mints), st.Transactions, "every transaction committed once:\n%s", logs.String())
	require.Zero(t, st.Skipped)
}

// The third wait for a pool connection, committedBefore's: a batch retried
// after a serialization failure meets the checkpoint moved (as in
// TestRV138CommittedBeforeReadFailsWhenTheLockHoldsThePool), and the
// database stops answering new connections, or refuses them, as the
// Ingester reads the stored checkpoint to tell whether its attempt before
// committed. The read's fault is a database fault: counted, retried,
// state retrying; the batch commits once the database answers again, and
// Stop while it does not ends Run.
func TestDatabaseDownAtCommittedBefore(t *testing.T) {
	for _, fault := range []struct {
		name string
		code int32
	}{{"no answer", 1}, {"refused", 2}} {
		for _, stop := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, stop %v", fault.name, stop), func(t *testing.T) {
				ctx, db, dialer, p, client := faultRig(t)
				var w ledgertest.TokenWorld
				_, err := p.Append(w.Mint("hot::1", "10"))
				require.NoError(t, err)

				var armed atomic.Bool
				var calls atomic.Int32
				h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
					if !armed.Load() {
						return nil
					}
					switch calls.Add(1) {
					case 1:
						return &pq.Error{Code: "40001", Message: "could not serialize access"} // retried
					case 2:
						// The retry: the checkpoint moved, the database
						// down for the next sessions.
						dialer.arm(fault.code, 0)
						_, err := tx.ExecContext(ctx, `UPDATE txhistory.checkpoint SET ledger_offset = ledger_offset + 1`)
						return err
					}
					return nil
				})
				logs := &syncbuf.Buffer{}
				ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"hot::1"}, Handler: h, LockCheck: 2 * time.Second,
					MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
				require.NoError(t, err)
				done := runInBackground(t, ctx, ing)
				require.Eventually(t, func() bool { return ing.Stats().Offset == p.LedgerEnd() }, 10*time.Second, 10*time.Millisecond)
				armed.Store(true)
				_, err = p.Append(w.Mint("hot::1", "11"))
				require.NoError(t, err)
				// The serialization failure, then the read's fault.
				if !assert.Eventually(t, func() bool { return ing.Stats().Errors["database"] >= 2 && calls.Load() >= 2 }, 15*time.Second, 10*time.Millisecond) {
					t.Fatalf("the read of the checkpoint's fault not counted while the database was down (state %s, %d calls):\n%s", ing.Stats().State, calls.Load(), logs.String())
				}
				require.Eventually(t, func() bool { return ing.Stats().State == ingest.StateRetrying }, 5*time.Second, 10*time.Millisecond)
				if stop {
					ing.Stop()
					select {
					case err := <-done:
						require.NoError(t, err)
					case <-time.After(10 * time.Second):
						dialer.arm(0, 0)
						t.Fatalf("Run did not return within 10s of Stop while the database was down (state %s):\n%s", ing.Stats().State, logs.String())
					}
					dialer.arm(0, 0)
					done = runInBackground(t, ctx, ing)
				} else {
					dialer.arm(0, 0)
				}
				require.Eventually(t, func() bool { return ing.Stats().Offset == p.LedgerEnd() }, 15*time.Second, 10*time.Millisecond)
				requireStopEndsRun(t, ing, done, "streaming", func() {})
				require.Equal(t, int64(2), ing.Stats().Transactions, "every transaction committed once:\n%s", logs.String())
			})
		}
	}
}

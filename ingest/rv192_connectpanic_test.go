package ingest_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// panickingConnector is the exchange's connector (a tracing or metrics
// wrapper of lib/pq's, as database/sql's OpenDB invites) with a bug that
// panics while it is armed.
type panickingConnector struct {
	driver.Connector
	armed *atomic.Bool
}

func (c panickingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.armed.Load() {
		panic("connector wrapper: invalid memory address or nil pointer dereference")
	}
	return c.Connector.Connect(ctx)
}

// A panic in the pool's connector while Run waits for the connection that
// takes the ingestion lock reaches Run's caller (a supervisor that
// recovers and runs the Ingester again under the process's long-lived
// context): Run must leave no goroutine behind, as 26528cf made the
// session's calls before the stream leave none. The goroutine that ends
// that wait at Stop (untilStop) waited for a Stop or the end of ctx,
// neither of which comes, one more at every panic.
func TestRV192ConnectorPanicTakingTheLockLeavesNoGoroutine(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 3)
	base, err := pq.NewConnector(b.dsn)
	require.NoError(t, err)
	var armed atomic.Bool
	db := sqlx.NewDb(sql.OpenDB(panickingConnector{Connector: base, armed: &armed}), "postgres")
	defer db.Close()
	db.SetMaxIdleConns(0)                                   // every Conn connects
	ctx, cancel := context.WithCancel(context.Background()) // the process's: it does not end
	defer cancel()
	settle := func(max int) int {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > max && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		return runtime.NumGoroutine()
	}
	ing, err := ingest.New(db, b.client, ingest.Config{Parties: []string{treasury}, Handler: effectsHandler,
		Logger: quietLog, EndOffset: b.p.LedgerEnd()})
	require.NoError(t, err)
	require.NoError(t, ing.Run(ctx), "a run before the bug") // the client's connection up too
	g0 := settle(0)
	armed.Store(true)
	const runs = 5
	for i := 0; i < runs; i++ {
		var panicked any
		func() {
			defer func() { panicked = recover() }()
			_ = ing.Run(ctx)
		}()
		require.NotNil(t, panicked, "run %d: the connector's panic did not reach Run's caller", i)
	}
	if g := settle(g0); g > g0 {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines grew from %d to %d over %d runs ended by the connector's panic\n%s", g0, g, runs, buf[:runtime.Stack(buf, true)])
	}
}

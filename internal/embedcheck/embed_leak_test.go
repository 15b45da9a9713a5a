package embedcheck

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/jmoiron/sqlx"
)

func TestEmbedNoLeakAfterFatal(t *testing.T) {
	e := newExch(t)
	var txs []*ledger.Transaction
	for i := 0; i < 300; i++ {
		txs = append(txs, e.world.Mint(treasury, "1"))
	}
	if _, err := e.p.Append(txs...); err != nil {
		t.Fatal(err)
	}
	// warm the client
	if _, err := e.client.LedgerEnd(e.ctx); err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	for _, mode := range []string{"error", "cancel", "stop"} {
		ctx, cancel := context.WithCancel(e.ctx)
		var ing *ingest.Ingester
		n := 0
		h := ingest.HandlerFunc(func(hctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
			n += len(b.Transactions)
			if n > 20 {
				switch mode {
				case "error":
					return errors.New("refused")
				case "cancel":
					cancel()
				case "stop":
					ing.Stop()
				}
			}
			return nil
		})
		var err error
		ing, err = ingest.New(e.db, e.client, ingest.Config{Parties: []string{treasury}, Handler: h, Logger: quiet, StreamBuffer: 4, MaxBatchSize: 2, Schema: ""})
		if err != nil {
			t.Fatal(err)
		}
		err = ing.Run(ctx)
		cancel()
		switch mode {
		case "error":
			if err == nil || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("error: Run returned %v, want the Handler's error", err)
			}
		case "cancel":
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancel: Run returned %v, want context.Canceled", err)
			}
		case "stop":
			if err != nil {
				t.Fatalf("stop: Run returned %v, want nil", err)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if g := runtime.NumGoroutine(); g > base {
			buf := make([]byte, 1<<20)
			t.Fatalf("%s: goroutines %d > %d\n%s", mode, g, base, buf[:runtime.Stack(buf, true)])
		}
		var locks int
		if err := e.db.GetContext(e.ctx, &locks, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`); err != nil {
			t.Fatal(err)
		}
		if locks != 0 {
			t.Fatalf("%s: %d advisory locks held", mode, locks)
		}
		st := e.db.Stats()
		t.Logf("pool open %d inuse %d", st.OpenConnections, st.InUse)
		if st.InUse != 0 {
			t.Fatalf("%s: %d connections in use", mode, st.InUse)
		}
	}
}

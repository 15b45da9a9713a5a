package ingest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/metrics"
)

// TestRV19SecondRunIsNotReportedStopped: Run may be called again after it
// returned, and the returned Run's "stopped" state stays until the new one
// reaches a state of its own (a lock wait, streaming, a retry). Until then
// (taking the lock, loading the checkpoint, the first session's calls to
// the participant) Stats says the Ingester is stopped and /healthz answers
// 503 "Run has returned" for a Run in progress.
func TestRV19SecondRunIsNotReportedStopped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := rv19DB(t, ctx)
	src := newEndSource(0, false)
	ing, stop := startHolding(t, ctx, db, src, rv19Config(ingest.LockWait))
	stop()
	if st := ing.Stats().State; st != ingest.StateStopped {
		t.Fatalf("after Run returned: state %s", st)
	}

	src.block = true // set before the second Run starts, read by it only
	select {
	case <-src.called:
	default:
	}
	rctx, rcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ing.Run(rctx) }()
	defer func() { rcancel(); <-done }()
	select {
	case <-src.called: // the second Run holds the lock and asks for the ledger end
	case err := <-done:
		t.Fatalf("second Run returned %v", err)
	}
	st := ing.Stats().State
	rec := httptest.NewRecorder()
	metrics.Handler(ing.Stats, metrics.Options{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if st == ingest.StateStopped || rec.Code != http.StatusOK {
		t.Fatalf("a Run in progress is reported as returned: state %s, /healthz %d %s", st, rec.Code, rec.Body.String())
	}
}

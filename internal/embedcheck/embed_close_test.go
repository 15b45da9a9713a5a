package embedcheck

import (
	"runtime"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
)

func TestEmbedParticipantCloseTwiceAndLeaks(t *testing.T) {
	_ = pgtest.NewDB(t) // the shared server's goroutines
	base := runtime.NumGoroutine()
	e := newExch(t)
	e.start()
	if _, err := e.p.Append(e.world.Mint(treasury, "5")); err != nil {
		t.Fatal(err)
	}
	e.caughtUp()
	_ = e.stop()
	e.p.Close()
	e.p.Close()
	_ = e.client.Close()
	_ = e.client.Close()
	_ = e.db.Close()
	p, _ := ledgertest.New()
	p.Close()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > base {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines %d > %d\n%s", g, base, buf[:runtime.Stack(buf, true)])
	}
}

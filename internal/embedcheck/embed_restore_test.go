package embedcheck

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
)

func TestEmbedRestoreProcedure(t *testing.T) {
	e := newExch(t)
	e.start()
	if _, err := e.p.Append(e.world.Mint(treasury, "5")); err != nil {
		t.Fatal(err)
	}
	e.caughtUp()
	now, err := e.store.IngestedTime(e.ctx)
	if err != nil || now.IsZero() {
		t.Fatalf("ingested time %v %v", now, err)
	}
	tSafe := now.Add(time.Minute)
	type res struct {
		rep *withdrawal.RestoreReport
		err error
	}
	done := make(chan res, 1)
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	go func() {
		rep, err := withdrawal.RestoreProcedure{Store: e.store, TSafe: tSafe, PollInterval: 10 * time.Millisecond}.Run(ctx)
		done <- res{rep, err}
	}()
	for {
		g, err := e.store.Gate(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !g.Open() {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.p.AdvanceTime("", tSafe.Add(time.Second))
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("%+v", *r.rep)
	g, _ := e.store.Gate(e.ctx)
	if !g.Open() {
		t.Fatalf("gate %+v", g)
	}
	_ = e.stop()
}

package withdrawal_test

import (
	"context"
	"sync"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
)

// step3Run is a RestoreProcedure run in the background on l's store with
// short intervals (StillAfter 300 ms), keeping the messages of step 3's
// progress (not its last, Done one) while record allows.
type step3Run struct {
	mu     sync.Mutex
	msgs   []string
	cancel context.CancelFunc
	done   chan error
}

// startStep3 starts the procedure with tSafe; record, if not nil, says
// whether a progress message is kept.
func startStep3(l *live, tSafe time.Time, record func() bool) *step3Run {
	ctx, cancel := context.WithCancel(l.ctx)
	l.t.Cleanup(cancel) // a test that fails before stop
	r := &step3Run{cancel: cancel, done: make(chan error, 1)}
	go func() {
		_, err := withdrawal.RestoreProcedure{Store: l.store, TSafe: tSafe, PollInterval: 5 * time.Millisecond,
			ReportInterval: 50 * time.Millisecond, StillAfter: 300 * time.Millisecond, Logger: quietLog,
			Progress: func(pr withdrawal.RestoreProgress) {
				if pr.Step != withdrawal.StepWait || pr.Done || (record != nil && !record()) {
					return
				}
				r.mu.Lock()
				defer r.mu.Unlock()
				r.msgs = append(r.msgs, pr.Message)
			}}.Run(ctx)
		r.done <- err
	}()
	return r
}

// stop cancels the procedure and returns what Run returned.
func (r *step3Run) stop() error {
	r.cancel()
	return <-r.done
}

// messages returns the progress messages kept so far.
func (r *step3Run) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

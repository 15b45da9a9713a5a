package withdrawal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
)

// An Automation not made by NewAutomation (a struct field left zero, a
// new(withdrawal.Automation)) is documented as not usable. Its RunOnce and
// Run waited for a round slot that does not exist until their context
// ended: a service with a live context never submitted a withdrawal and
// said nothing. They must fail at once, saying why.
func TestRV146ZeroAutomationFailsInsteadOfWaiting(t *testing.T) {
	var a withdrawal.Automation
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 2)
	go func() { _, err := a.RunOnce(ctx); done <- err }()
	go func() { done <- a.Run(ctx) }()
	for i := 0; i < 2; i++ {
		select {
		case err := <-done:
			if err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("want an error naming NewAutomation, got %v", err)
			}
			t.Log(err)
		case <-time.After(3 * time.Second):
			t.Fatal("a zero Automation waits instead of failing")
		}
	}
}

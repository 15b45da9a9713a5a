package ctxerr

import (
	"context"
	"errors"
	"testing"
)

func TestWrap(t *testing.T) {
	fault := errors.New("pq: canceling statement due to user request")
	live := context.Background()
	if err := Wrap(live, fault); err != fault {
		t.Fatalf("ctx alive: got %v, want the error as it is", err)
	}
	ended, cancel := context.WithCancel(live)
	cancel()
	if err := Wrap(ended, nil); err != nil {
		t.Fatalf("no error: got %v", err)
	}
	err := Wrap(ended, fault)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, fault) {
		t.Fatalf("ctx ended: %v wraps not both ctx's error and the fault", err)
	}
	if again := Wrap(ended, err); again != err {
		t.Fatalf("wrapped twice: %v", again)
	}
}

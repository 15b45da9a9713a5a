package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// -packages-only against a participant that accepts the look-ups by update
// id and never answers them ends after -timeout with exit status 1, as the
// runbook's wait does, rather than hang.
func TestPackagesOnlyBoundedByTimeout(t *testing.T) {
	r := newRestored(t, nil)
	r.p.Intercept(ledgertest.MethodGetUpdateByID, func(ctx context.Context, _ proto.Message) error {
		<-ctx.Done()
		return ctx.Err()
	})
	args := []string{"-ledger", r.p.Addr(), "-plaintext", "-dsn", r.dsn, "-party", treasury,
		"-packages-only", "-since", r.stored[0].RecordTime.Format(time.RFC3339Nano), "-timeout", "200ms"}
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(args, envOf(nil), &out, &errOut) }()
	select {
	case code := <-done:
		require.Equal(t, 1, code, errOut.String())
		require.Contains(t, errOut.String(), "within -timeout")
	case <-time.After(15 * time.Second):
		t.Fatal("runbook -packages-only -timeout 200ms still running after 15s")
	}
}

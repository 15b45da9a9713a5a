package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/stretchr/testify/require"
)

// A -ledger or -admin that is not host:port with a port that can be
// dialled is a configuration error (exit 2) naming the flag, found before
// anything is dialled, as the command's doc promises of a malformed
// setting: not a participant taken for unavailable, which Plan waits for
// until -timeout (an hour by default).
func TestMalformedTargetIsAConfigurationError(t *testing.T) {
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"-ledger", "127.0.0.1:99999", "-admin", "127.0.0.1:2"}, "-ledger"},
		{[]string{"-ledger", "127.0.0.1:1", "-admin", "validator:admin"}, "-admin"},
	} {
		t.Run(c.flag, func(t *testing.T) {
			args := append(c.args, "-plaintext", "-party", treasury, "-timeout", "30s")
			env := map[string]string{conn.EnvDSN: "postgres://u:pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=1"}
			var out, errOut bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan int, 1)
			go func() { done <- run(args, envOf(env), &out, &errOut) }()
			select {
			case got := <-done:
				require.Equal(t, 2, got, errOut.String())
			case <-ctx.Done():
				t.Fatalf("still running after 10 s (exit 2 expected at once)")
			}
			require.Contains(t, errOut.String(), c.flag)
		})
	}
}

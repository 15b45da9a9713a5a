package main

import (
	"io"
	"maps"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// A -shutdown-timeout of zero or less is a configuration error (exit 2)
// naming the flag, as -max-silence and -progress are: taken as given, the
// first SIGTERM would abort at once, without committing the batch in hand,
// and exit 1 where docs/OPERATIONS.md promises a graceful stop with 0.
func TestNonPositiveShutdownTimeoutIsAConfigurationError(t *testing.T) {
	base := map[string]string{conn.EnvLedger: "validator:5001", conn.EnvParty: "treasury::1", conn.EnvDSN: "postgres://u:pw@db/x"}
	for _, c := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"-shutdown-timeout", "0s"}, nil},
		{[]string{"-shutdown-timeout", "-30s"}, nil},
		{nil, map[string]string{"TXHISTORY_SHUTDOWN_TIMEOUT": "0"}},
	} {
		env := maps.Clone(base)
		maps.Copy(env, c.env)
		_, err := parseConfig(c.args, envOf(env), io.Discard)
		require.ErrorContains(t, err, "-shutdown-timeout", "%v %v", c.args, c.env)
		logs := &syncbuf.Buffer{}
		require.Equal(t, 2, run(c.args, envOf(env), logs, nil, nil), "%v %v:\n%s", c.args, c.env, logs.String())
		require.Contains(t, logs.String(), "-shutdown-timeout")
	}
}

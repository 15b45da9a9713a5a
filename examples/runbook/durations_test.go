package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// A -timeout or -poll of zero or less is a configuration error (exit 2)
// naming the flag, before anything is dialled: taken as given, the
// recovery package's defaults would replace it silently, and an operator
// who asked for -timeout 0s would wait an hour.
func TestNonPositiveDurationsAreConfigurationErrors(t *testing.T) {
	base := []string{"-ledger", "127.0.0.1:1", "-admin", "127.0.0.1:2", "-plaintext", "-party", treasury,
		"-dsn", "postgres://u:pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=1"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-timeout", "0s"}, "-timeout"},
		{[]string{"-timeout", "-1m"}, "-timeout"},
		{[]string{"-poll", "0s"}, "-poll"},
		{[]string{"-packages-only", "-since", "2026-03-01T02:00:00Z", "-timeout", "0s"}, "-timeout"},
	} {
		var out, errOut bytes.Buffer
		require.Equal(t, 2, run(append(base, c.args...), envOf(nil), &out, &errOut), "%v:\n%s%s", c.args, out.String(), errOut.String())
		require.Contains(t, errOut.String(), "runbook: "+c.want)
		require.Empty(t, out.String(), "no step run")
	}
}

// A -mode, -admin-api or -schema the runbook does not know is a
// configuration error that names its flag, as every other one does.
func TestUnknownSettingsNameTheFlag(t *testing.T) {
	base := []string{"-ledger", "127.0.0.1:1", "-admin", "127.0.0.1:2", "-plaintext", "-party", treasury,
		"-dsn", "postgres://u:pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=1"}
	for _, c := range [][]string{{"-mode", "nonunique"}, {"-admin-api", "3.6"}, {"-schema", "Bad-Name"}} {
		var out, errOut bytes.Buffer
		require.Equal(t, 2, run(append(base, c...), envOf(nil), &out, &errOut), "%v:\n%s%s", c, out.String(), errOut.String())
		require.Contains(t, errOut.String(), "runbook: "+c[0], "%v", c)
		require.Empty(t, out.String(), "no step run")
	}
}

// -yes with -packages-only is refused: the listing writes nothing, and an
// operator who added -yes to it expecting the checkpoint rewritten learns
// that it was not.
func TestYesWithPackagesOnlyIsRefused(t *testing.T) {
	args := []string{"-ledger", "127.0.0.1:1", "-plaintext", "-party", treasury,
		"-dsn", "postgres://u:pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=1",
		"-packages-only", "-since", "2026-03-01T02:00:00Z", "-yes"}
	var out, errOut bytes.Buffer
	require.Equal(t, 2, run(args, envOf(nil), &out, &errOut), "%s%s", out.String(), errOut.String())
	require.Contains(t, errOut.String(), "runbook: -yes")
	require.Empty(t, out.String(), "no step run")
}

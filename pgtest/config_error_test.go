package pgtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// reviewHelperEnv makes TestConfigErrorHelper do something: it runs only in
// the child processes of TestConfigurationErrorsFailInsteadOfSkipping.
const reviewHelperEnv = "PGTEST_CONFIG_ERROR_HELPER"

func TestConfigErrorHelper(t *testing.T) {
	switch os.Getenv(reviewHelperEnv) {
	case "dsn":
		NewDB(t)
	case "port":
		NewServer(t, ServerOptions{Port: 70000})
	default:
		t.Skip("helper of TestConfigurationErrorsFailInsteadOfSkipping")
	}
}

// "No PostgreSQL available" is a reason to skip; a mistake in what the test
// or the environment asked for is not. Yet a $TXHISTORY_TEST_DSN that is set
// but does not work (wrong port, password or host), or a NewServer option
// that can never work, skips every database test outside CI=true (Jenkins,
// for one, does not set CI), and the run is green with nothing tested. The
// skip message even says to set the variable that is set.
func TestConfigurationErrorsFailInsteadOfSkipping(t *testing.T) {
	cases := []struct {
		name, mode string
		env        []string
	}{
		{"TestDSNSetButUnreachable", "dsn", []string{EnvDSN + "=postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2"}},
		{"NewServerPortOutOfRange", "port", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var env []string
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, EnvCI+"=") && !strings.HasPrefix(kv, EnvDSN+"=") {
					env = append(env, kv)
				}
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestConfigErrorHelper$", "-test.v", "-test.count=1")
			cmd.Env = append(append(env, reviewHelperEnv+"="+c.mode), c.env...)
			out, _ := cmd.CombinedOutput()
			if !strings.Contains(string(out), "--- FAIL: TestConfigErrorHelper") {
				t.Fatalf("a configuration error did not fail the test; its output:\n%s", out)
			}
		})
	}
}

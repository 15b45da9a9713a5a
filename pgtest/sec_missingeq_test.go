package pgtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A $TXHISTORY_TEST_DSN in key=value form whose password holds a blank
// left unquoted (or a URL without its scheme) fails the tests with lib/pq's
// `missing "=" after "<word>"`, the word a piece of the password (or all
// of it): the failure, which CI logs keep, must not quote it.
func TestSecMissingEqualsTestDSNIsNotQuoted(t *testing.T) {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, EnvCI+"=") && !strings.HasPrefix(kv, EnvDSN+"=") {
			env = append(env, kv)
		}
	}
	for _, dsn := range []string{
		"host=127.0.0.1 port=1 user=postgres password=S3cr etPw sslmode=disable",
		"postgres:S3cretPw@127.0.0.1:1/postgres",
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestConfigErrorHelper$", "-test.v", "-test.count=1")
		cmd.Env = append(env, reviewHelperEnv+"=dsn", EnvDSN+"="+dsn)
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), "--- FAIL: TestConfigErrorHelper") {
			t.Fatalf("%q did not fail the test; its output:\n%s", dsn, out)
		}
		if strings.Contains(string(out), "etPw") {
			t.Errorf("the output quotes the password of %q:\n%s", dsn, out)
		}
	}
}

package pgtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A $TXHISTORY_TEST_DSN that net/url cannot parse (a password with an
// unencoded "/") fails the tests; the failure, which CI logs keep, must
// not quote the password (partial quotes escape CI's secret masking).
func TestSecUnparsableTestDSNIsNotQuoted(t *testing.T) {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, EnvCI+"=") && !strings.HasPrefix(kv, EnvDSN+"=") {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestConfigErrorHelper$", "-test.v", "-test.count=1")
	cmd.Env = append(env, reviewHelperEnv+"=dsn", EnvDSN+"=postgres://postgres:S3cr/etPw@127.0.0.1:1/postgres?sslmode=disable")
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "--- FAIL: TestConfigErrorHelper") {
		t.Fatalf("the unparsable DSN did not fail the test; its output:\n%s", out)
	}
	if strings.Contains(string(out), "S3cr") || strings.Contains(string(out), "etPw") {
		t.Fatalf("the output quotes the password:\n%s", out)
	}
}

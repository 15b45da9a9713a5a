package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
)

// A $TXHISTORY_TEST_DSN whose role lacks CREATEDB fails every test with
// an error that says what the role needs, and never prints its password.
func TestDSNRoleWithoutCreateDBSaysSo(t *testing.T) {
	t.Parallel()
	srv := NewServer(t, ServerOptions{})
	admin, err := sqlx.Open("postgres", srv.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	const password = "Rv155NoCreateDBPw"
	if _, err := admin.ExecContext(context.Background(), `CREATE ROLE nocreate LOGIN NOCREATEDB PASSWORD '`+password+`'`); err != nil {
		t.Fatal(err)
	}
	dsn := fmt.Sprintf("postgres://nocreate:%s@127.0.0.1:%d/postgres?sslmode=disable", password, srv.Port())
	cmd := exec.Command(os.Args[0], "-test.run=^TestConfigErrorHelper$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), reviewHelperEnv+"=dsn", EnvDSN+"="+dsn)
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "--- FAIL: TestConfigErrorHelper") {
		t.Fatalf("a role without CREATEDB did not fail the test:\n%s", out)
	}
	if !strings.Contains(string(out), "needs CREATEDB") || !strings.Contains(string(out), `"nocreate"`) {
		t.Errorf("the error does not say that the role nocreate needs CREATEDB:\n%s", out)
	}
	if strings.Contains(string(out), password) {
		t.Errorf("the output prints the password:\n%s", out)
	}
}

package pgtest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
)

// rv155HelperEnv makes TestRV155OpenHelper do something: it runs only in
// the child process of TestMainDropsWhatOpenLeftBehind.
const rv155HelperEnv = "PGTEST_RV155_OPEN_HELPER"

// What an application's TestMain does with Open before it calls Main: it
// gets a database for all its tests, and has no place to drop it, as Main
// exits.
func TestRV155OpenHelper(t *testing.T) {
	if os.Getenv(rv155HelperEnv) == "" {
		t.Skip("helper of TestMainDropsWhatOpenLeftBehind")
	}
	if _, _, err := Open(context.Background(), "TestMainOpen"); err != nil {
		t.Fatal(err)
	}
}

// Open's doc offers it to an application's own TestMain, whose Main then
// exits without the database having been dropped. With a private server
// that goes with the server; on the server of $TXHISTORY_TEST_DSN, a
// shared one, it stayed there, one more after every run. Main drops what
// Open created and nobody dropped.
func TestMainDropsWhatOpenLeftBehind(t *testing.T) {
	t.Parallel()
	srv := NewServer(t, ServerOptions{}) // stands for the server of $TXHISTORY_TEST_DSN
	cmd := exec.Command(os.Args[0], "-test.run=^TestRV155OpenHelper$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), rv155HelperEnv+"=1", EnvDSN+"="+srv.DSN(""))
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "--- PASS: TestRV155OpenHelper") {
		t.Fatalf("helper: %v:\n%s", err, out)
	}
	db, err := sqlx.Open("postgres", srv.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var left []string
	if err := db.SelectContext(context.Background(), &left, `SELECT datname FROM pg_database WHERE datname LIKE 't\_testmainopen\_%'`); err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("databases Open created were left on the server after Main: %q", left)
	}
}

package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

func TestNewDB(t *testing.T) {
	t.Parallel()

	t.Run("DatabasesAreIsolated", func(t *testing.T) {
		t.Parallel()
		a, b := NewDB(t), NewDB(t)

		var nameA, nameB string
		mustGet(t, a, &nameA, `SELECT current_database()`)
		mustGet(t, b, &nameB, `SELECT current_database()`)
		if nameA == nameB {
			t.Fatalf("both databases are %q", nameA)
		}
		for _, name := range []string{nameA, nameB} {
			if !strings.HasPrefix(name, "t_testnewdb_databasesareisolated_") {
				t.Errorf("database name %q does not follow the test name", name)
			}
		}

		mustExec(t, a, `CREATE TABLE only_in_a (x int)`)
		mustExec(t, a, `INSERT INTO only_in_a VALUES (1)`)
		var found bool
		mustGet(t, b, &found, `SELECT to_regclass('only_in_a') IS NOT NULL`)
		if found {
			t.Fatal("table created in one test database is visible in another")
		}
	})

	t.Run("DroppedAfterTestEvenWithOpenConnections", func(t *testing.T) {
		t.Parallel()
		var (
			name string
			held *sql.DB
		)
		t.Run("Inner", func(t *testing.T) {
			dsn := NewDSN(t)
			var err error
			held, err = sql.Open("postgres", dsn)
			if err != nil {
				t.Fatal(err)
			}
			// A session still open at cleanup, as a leaked pool or a child
			// process would leave it.
			if err := held.QueryRow(`SELECT current_database()`).Scan(&name); err != nil {
				t.Fatal(err)
			}
		})
		defer held.Close()

		var n int
		mustGet(t, shared.admin, &n, `SELECT count(*) FROM pg_database WHERE datname = $1`, name)
		if n != 0 {
			t.Fatalf("database %q still exists after its test ended", name)
		}
		if err := held.Ping(); err == nil {
			t.Fatal("session on the dropped database still works")
		}
	})
}

func TestSharedServer(t *testing.T) {
	if os.Getenv(EnvDSN) != "" {
		t.Skipf("%s is set", EnvDSN)
	}
	t.Parallel()
	srv := SharedServer(t)
	if srv == nil {
		t.Fatal("SharedServer returned nil")
	}
	db := NewDB(t)
	var port int
	mustGet(t, db, &port, `SELECT current_setting('port')::int`)
	if port != srv.Port() {
		t.Fatalf("NewDB database is on port %d, shared server on %d", port, srv.Port())
	}
}

func TestServer(t *testing.T) {
	t.Parallel()

	t.Run("StopAndStartKeepData", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		srv := NewServer(t, ServerOptions{})
		port, dir := srv.Port(), srv.Dir()
		db := open(t, srv.DSN(""))

		mustExec(t, db, `CREATE TABLE batch (n int)`)
		mustExec(t, db, `INSERT INTO batch SELECT generate_series(1, 100)`)

		if err := srv.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if err := db.PingContext(ctx); err == nil {
			t.Fatal("server still answers after Stop")
		}
		if err := srv.Stop(ctx); err != nil {
			t.Fatalf("second Stop: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
			t.Fatalf("data directory gone after Stop: %v", err)
		}

		if err := srv.Start(ctx); err != nil {
			t.Fatalf("Start: %v", err)
		}
		if srv.Port() != port {
			t.Fatalf("port changed from %d to %d across restart", port, srv.Port())
		}
		var n int
		mustGet(t, db, &n, `SELECT count(*) FROM batch`)
		if n != 100 {
			t.Fatalf("got %d rows after restart, want 100", n)
		}

		if err := srv.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("temporary data directory %s not removed by Close: %v", dir, err)
		}
	})

	t.Run("TCPNeedsThePassword", func(t *testing.T) {
		// Trust authentication on 127.0.0.1 let any user of the machine
		// connect as the superuser, whose COPY ... TO PROGRAM runs commands
		// as the user running the server (the developer, for ingestd -demo
		// and quickstart).
		t.Parallel()
		srv := NewServer(t, ServerOptions{})
		u, err := url.Parse(srv.DSN(""))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := u.User.Password(); !ok {
			t.Fatalf("DSN has no password")
		}
		mustExec(t, open(t, u.String()), `SELECT 1`)
		for _, user := range []*url.Userinfo{url.User("postgres"), url.UserPassword("postgres", "guess")} {
			u.User = user
			db, err := sql.Open("postgres", u.String())
			if err != nil {
				t.Fatal(err)
			}
			err = db.Ping()
			db.Close()
			var pqe *pq.Error
			if !errors.As(err, &pqe) || pqe.Code != "28P01" {
				t.Fatalf("connecting as %s over TCP: got %v, want password authentication failed (28P01)", user.Username(), err)
			}
		}
	})

	t.Run("KilledServerRecovers", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		// Durable, so a commit acknowledged before the kill must survive it.
		srv := NewServer(t, ServerOptions{Durable: true})
		db := open(t, srv.DSN(""))
		mustExec(t, db, `CREATE TABLE batch (n int)`)
		mustExec(t, db, `INSERT INTO batch VALUES (1)`)

		srv.mu.Lock()
		pid := srv.proc.cmd.Process.Pid
		srv.mu.Unlock()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() bool { return db.PingContext(ctx) != nil })

		if err := srv.Stop(ctx); err != nil {
			t.Fatalf("Stop after kill: %v", err)
		}
		if err := srv.Start(ctx); err != nil {
			t.Fatalf("Start after kill: %v", err)
		}
		var n int
		mustGet(t, db, &n, `SELECT count(*) FROM batch`)
		if n != 1 {
			t.Fatalf("got %d rows after crash recovery, want 1", n)
		}
	})

	t.Run("ExplicitDirAndPort", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		parent := t.TempDir() // 0700
		dir := filepath.Join(parent, "cluster")

		if os.Geteuid() == 0 {
			// postgres runs unprivileged and cannot reach a 0700 root
			// directory; StartServer must say so rather than fail obscurely.
			_, err := StartServer(ctx, ServerOptions{Dir: dir, Port: port})
			if err == nil || !strings.Contains(err.Error(), "cannot search") {
				t.Fatalf("StartServer under a private root directory: got %v, want a 'cannot search' error", err)
			}
			// t.TempDir makes two private levels.
			for _, d := range []string{parent, filepath.Dir(parent)} {
				if err := os.Chmod(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}

		srv := NewServer(t, ServerOptions{Dir: dir, Port: port})
		if srv.Port() != port || srv.Dir() != dir {
			t.Fatalf("server on %s port %d, want %s port %d", srv.Dir(), srv.Port(), dir, port)
		}
		db := open(t, srv.DSN("postgres"))
		mustExec(t, db, `CREATE TABLE kept (x int)`)
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
			t.Fatalf("Close removed a caller-chosen data directory: %v", err)
		}

		// A second server on the existing cluster skips initdb and sees
		// the data.
		again := NewServer(t, ServerOptions{Dir: dir})
		db = open(t, again.DSN("postgres"))
		var found bool
		mustGet(t, db, &found, `SELECT to_regclass('kept') IS NOT NULL`)
		if !found {
			t.Fatal("table missing on the reused data directory")
		}
	})
}

func TestStartServerBadBinDir(t *testing.T) {
	t.Parallel()
	_, err := StartServer(context.Background(), ServerOptions{BinDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "initdb") {
		t.Fatalf("got %v, want an error about the missing initdb", err)
	}
}

func TestDatabaseName(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^t_[a-z0-9_]+_[0-9a-f]{8}$`)
	cases := []struct {
		test, stem string
	}{
		{"TestFoo", "t_testfoo_"},
		{"TestFoo/sub_case#01", "t_testfoo_sub_case_01_"},
		{"TestÄrger/--x--", "t_test_rger_x_"},
		{"", "t_test_"},
		{"///", "t_test_"},
		{strings.Repeat("Abc", 40), "t_" + strings.Repeat("abc", 13) + "a_"},
	}
	for _, c := range cases {
		got := databaseName(c.test)
		if !strings.HasPrefix(got, c.stem) || !valid.MatchString(got) || len(got) > 63 {
			t.Errorf("databaseName(%q) = %q, want %q + 8 hex digits", c.test, got, c.stem)
		}
	}
	if databaseName("TestX") == databaseName("TestX") {
		t.Error("two databases for the same test got the same name")
	}
}

func TestWithDBName(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"postgres://u:secret@db:5432/admin?sslmode=disable", "postgres://u:secret@db:5432/t_x?sslmode=disable"},
		{"postgresql://db", "postgresql://db/t_x"},
		{"host=db user=u dbname=admin", "host=db user=u dbname=admin dbname=t_x"},
	}
	for _, c := range cases {
		got, err := withDBName(c.in, "t_x")
		if err != nil || got != c.want {
			t.Errorf("withDBName(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := withDBName("postgres://u:secret@db:bad/x", "t_x"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("bad URL: got %v, want an error that does not quote the password", err)
	}
}

// fakeTB records what unavailable asks of a test without ending it.
type fakeTB struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Skipf(string, ...any)           { f.skipped = true }
func (f *fakeTB) Fatalf(string, ...any)          { f.failed = true }
func (f *fakeTB) Name() string                   { return "fake" }
func (f *fakeTB) Logf(format string, a ...any)   {}
func (f *fakeTB) Errorf(format string, a ...any) { f.failed = true }

func TestUnavailableSkipsUnlessCI(t *testing.T) {
	cases := []struct {
		ci            string
		skip, failure bool
	}{
		{"", true, false},
		{"false", true, false},
		{"true", false, true},
		{"1", false, true},
	}
	for _, c := range cases {
		t.Setenv(EnvCI, c.ci)
		tb := &fakeTB{TB: t}
		unavailable(tb, errors.New("no binaries"))
		if tb.skipped != c.skip || tb.failed != c.failure {
			t.Errorf("CI=%q: skipped=%v failed=%v, want skipped=%v failed=%v", c.ci, tb.skipped, tb.failed, c.skip, c.failure)
		}
	}
}

func open(t *testing.T, dsn string) *sqlx.DB {
	t.Helper()
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func mustExec(t *testing.T, db sqlx.ExecerContext, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func mustGet(t *testing.T, db sqlx.QueryerContext, dest any, query string, args ...any) {
	t.Helper()
	if err := sqlx.GetContext(context.Background(), db, dest, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Not parallel: it swaps the package's list of candidate users, which is
// safe only while no parallel test runs.
func TestServerAsNobodyWhenNoPostgresUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root switches users")
	}
	saved := unprivilegedUsers
	unprivilegedUsers = []string{"no_such_user_txhistory", "nobody"}
	defer func() { unprivilegedUsers = saved }()

	srv := NewServer(t, ServerOptions{})
	srv.mu.Lock()
	pid := srv.proc.cmd.Process.Pid
	srv.mu.Unlock()
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var uidLine string
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "Uid:") {
			uidLine = line
		}
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	if fields := strings.Fields(uidLine); len(fields) < 3 || fields[2] != nobody.Uid {
		t.Fatalf("postgres runs with %q, want effective uid %s (nobody)", uidLine, nobody.Uid)
	}
	db := open(t, srv.DSN(""))
	mustExec(t, db, `CREATE TABLE works (x int)`)
}

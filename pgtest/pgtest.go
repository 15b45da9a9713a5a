package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

const (
	// EnvDSN names the environment variable holding the connection string
	// of an existing PostgreSQL server to create test databases on, instead
	// of starting one. The role needs CREATEDB; the server must be
	// PostgreSQL 13 or newer (DROP DATABASE ... WITH (FORCE)).
	EnvDSN = "TXHISTORY_TEST_DSN"

	// EnvCI names the environment variable that, when true ("true", "1"),
	// turns "no PostgreSQL available" from a skipped test into a failed one.
	EnvCI = "CI"

	// DBPrefix starts the name of every database NewDB and NewDSN create,
	// so leftovers of a killed run are easy to recognise.
	DBPrefix = "t_"
)

// adminTimeout bounds CREATE DATABASE and DROP DATABASE.
const adminTimeout = 30 * time.Second

// shared is the per-process state behind NewDB: one admin connection pool
// and, unless EnvDSN is set, the server it points at.
var shared struct {
	once     sync.Once
	err      error
	server   *Server // nil when EnvDSN is set
	admin    *sqlx.DB
	baseDSN  string
	fileCopy bool // server supports CREATE DATABASE ... STRATEGY = FILE_COPY

	mu     sync.Mutex
	closed bool
	// opened holds, for each pool Open returned whose database has not
	// been dropped yet, the function that closes it and drops it; Main
	// calls those that are left.
	opened map[*sqlx.DB]func() error
}

func setup() error {
	shared.once.Do(func() {
		shared.err = connectShared()
	})
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.closed {
		return errors.New("pgtest: used after Main finished")
	}
	return shared.err
}

func connectShared() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if dsn := os.Getenv(EnvDSN); dsn != "" {
		shared.baseDSN = dsn
	} else {
		srv, err := StartServer(ctx, ServerOptions{})
		if err != nil {
			return err
		}
		shared.server = srv
		shared.baseDSN = srv.DSN("postgres")
	}

	admin, err := sqlx.Open("postgres", shared.baseDSN)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		// The DSN itself is not quoted: it may carry a password. Nor is
		// lib/pq's error for one it cannot parse, which quotes it
		// (net/url's for a URL, or a word of a key=value string: a
		// password's tail after an unquoted blank).
		var ue *url.Error
		if _, perr := pq.NewConnector(shared.baseDSN); errors.As(err, &ue) || perr != nil {
			err = errors.New("connection string does not parse (its message is withheld: it may quote the password; percent-encode special characters in a URL, quote a key=value value holding blanks)")
		}
		err = fmt.Errorf("pgtest: connecting to the admin database: %w", err)
		if shared.server != nil {
			_ = shared.server.Close()
			shared.server = nil
		}
		if admin != nil {
			_ = admin.Close()
		}
		return err
	}
	admin.SetMaxOpenConns(8)
	shared.admin = admin

	var version int
	if err := admin.GetContext(ctx, &version, `SELECT current_setting('server_version_num')::int`); err == nil {
		shared.fileCopy = version >= 150000
	}
	return nil
}

// unavailable skips the test because there is no PostgreSQL to test with,
// or fails it when running in CI, where that is a broken setup.
func unavailable(tb testing.TB, err error) {
	tb.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv(EnvCI)); ci {
		tb.Fatalf("pgtest: no PostgreSQL available (%s is set, so this fails instead of skipping): %v", EnvCI, err)
		return
	}
	tb.Skipf("pgtest: no PostgreSQL available, skipping (install the server binaries or set %s): %v", EnvDSN, err)
}

// NewDB returns a connection pool to a new, empty database created for this
// test alone. In tb.Cleanup the pool is closed and the database dropped,
// disconnecting any sessions still using it.
//
// The database lives on the server named by $TXHISTORY_TEST_DSN if set, and
// otherwise on a server this test process starts on first use and shares
// among all its tests (see Main). When neither is possible the test is
// skipped, or, if $CI is true, failed; a $TXHISTORY_TEST_DSN that is set
// but cannot be used fails the test.
//
// NewDB is safe to call from parallel tests.
func NewDB(tb testing.TB) *sqlx.DB {
	tb.Helper()
	dsn := NewDSN(tb)
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		tb.Fatalf("pgtest: opening test database: %v", err)
	}
	// Registered after NewDSN's drop, so it runs before it.
	tb.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		tb.Fatalf("pgtest: connecting to test database: %v", err)
	}
	return db
}

// NewDSN is NewDB for tests that connect by themselves, such as ones that
// start a child process: it creates the database and returns its connection
// string. The database is dropped in tb.Cleanup, with WITH (FORCE), so
// connections still open then are cut.
func NewDSN(tb testing.TB) string {
	tb.Helper()
	if err := setup(); err != nil {
		if os.Getenv(EnvDSN) != "" {
			// Not "no PostgreSQL": the server asked for cannot be used.
			tb.Fatalf("pgtest: %s is set, but its server cannot be used: %v", EnvDSN, err)
		}
		unavailable(tb, err)
	}
	dsn, drop, err := createDatabase(tb.Name())
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Errorf("%v", err)
		}
	})
	return dsn
}

// Open is NewDB for code without a testing.TB, such as a runnable Example
// (func ExampleX, checked against its "// Output:" comment) or an
// application's own TestMain: it creates a new, empty database, named
// after name, on the same server NewDB uses, and returns a pool to it and
// a function that closes the pool and drops the database, cutting any
// session still using it. Where NewDB would skip for want of a PostgreSQL,
// Open returns the error. Main still stops the shared server at the end,
// and first drops the databases Open created that were not dropped yet,
// such as one an application's TestMain opened for all its tests before
// calling Main (which exits, leaving no place to call the function). Not
// when a test panics or the binary times out (-timeout) or is killed: the
// test binary then exits inside M.Run, and on the server of
// $TXHISTORY_TEST_DSN such a database stays behind, named as NewDB's are.
func Open(ctx context.Context, name string) (*sqlx.DB, func() error, error) {
	if err := setup(); err != nil {
		return nil, nil, err
	}
	dsn, drop, err := createDatabase(name)
	if err != nil {
		return nil, nil, err
	}
	db, err := sqlx.Open("postgres", dsn)
	if err == nil {
		err = db.PingContext(ctx)
	}
	if err != nil {
		if db != nil {
			_ = db.Close()
		}
		return nil, nil, errors.Join(fmt.Errorf("pgtest: connecting to %s: %w", name, err), drop())
	}
	release := func() error { return errors.Join(db.Close(), drop()) }
	shared.mu.Lock()
	if shared.opened == nil {
		shared.opened = make(map[*sqlx.DB]func() error)
	}
	shared.opened[db] = release
	shared.mu.Unlock()
	return db, func() error {
		shared.mu.Lock()
		_, open := shared.opened[db]
		delete(shared.opened, db)
		shared.mu.Unlock()
		if !open {
			return nil // dropped already, by an earlier call or by Main
		}
		return release()
	}, nil
}

// createDatabase creates a database for testName (see databaseName) on
// the shared server, which setup has connected to, and returns its
// connection string and the function that drops it WITH (FORCE).
func createDatabase(testName string) (string, func() error, error) {
	name := databaseName(testName)
	dsn, err := withDBName(shared.baseDSN, name)
	if err != nil {
		return "", nil, fmt.Errorf("pgtest: %s: %w", EnvDSN, err)
	}
	create := "CREATE DATABASE " + pq.QuoteIdentifier(name)
	if shared.fileCopy {
		// Copies template1's files instead of WAL-logging every block:
		// several times faster for the near-empty template.
		create += " STRATEGY = FILE_COPY"
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if _, err := shared.admin.ExecContext(ctx, create); err != nil {
		var pqe *pq.Error
		if errors.As(err, &pqe) && pqe.Code == "42501" { // insufficient_privilege
			// PostgreSQL's message names neither the role nor the
			// privilege it lacks.
			var role string
			if rerr := shared.admin.GetContext(ctx, &role, `SELECT current_user`); rerr != nil || role == "" {
				err = fmt.Errorf("%w; the role of $%s needs CREATEDB", err, EnvDSN)
			} else {
				err = fmt.Errorf("%w; the role %q of $%s needs CREATEDB (ALTER ROLE %s CREATEDB)",
					err, role, EnvDSN, pq.QuoteIdentifier(role))
			}
		}
		return "", nil, fmt.Errorf("pgtest: creating test database %s: %w", name, err)
	}
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		if _, err := shared.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("pgtest: dropping test database %s: %w", name, err)
		}
		return nil
	}
	return dsn, drop, nil
}

// SharedServer returns the server NewDB creates databases on in this test
// process, starting it if needed, for tests that need the server itself.
// When $TXHISTORY_TEST_DSN is set there is no such server and the test is
// skipped.
//
// Stopping or restarting it disrupts every other test of the process that
// is using a database at the time, including parallel ones, and a test that
// leaves it stopped breaks the ones after it. Fault-injection tests should
// therefore use a server of their own (NewServer or StartServer); use this
// one only to read its Port, Dir or DSN.
func SharedServer(tb testing.TB) *Server {
	tb.Helper()
	if os.Getenv(EnvDSN) != "" {
		tb.Skipf("pgtest: %s is set, so there is no local shared server; use NewServer for a private one", EnvDSN)
		return nil
	}
	if err := setup(); err != nil {
		unavailable(tb, err)
	}
	return shared.server
}

// NewServer starts a private server with StartServer for this test, closed
// (and its temporary directory removed) in tb.Cleanup. It is what
// fault-injection tests should use to Stop, Start or kill PostgreSQL without
// affecting other tests. Like NewDB it skips the test, or fails it when $CI
// is true, if no server can be started.
func NewServer(tb testing.TB, opts ServerOptions) *Server {
	tb.Helper()
	if opts.Port < 0 || opts.Port > 65535 {
		// The test's own mistake, not a missing PostgreSQL: fail.
		tb.Fatalf("pgtest: NewServer: port %d out of range", opts.Port)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := StartServer(ctx, opts)
	if err != nil {
		unavailable(tb, err)
	}
	tb.Cleanup(func() {
		if err := srv.Close(); err != nil {
			tb.Errorf("pgtest: closing server: %v", err)
		}
	})
	return srv
}

// Main runs the tests of a package and then stops the server shared by
// them, so that no PostgreSQL outlives the test binary. Every package whose
// tests use NewDB, NewDSN or SharedServer should have:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without it the server still dies with the test binary on Linux (see
// Server), but its temporary directory is only removed by a later run.
//
// Runnable examples (Open) cannot skip themselves: where NewDB would skip
// every test for want of a PostgreSQL (no $TXHISTORY_TEST_DSN, no server
// binaries found, $CI not true), Main leaves the package's examples out
// too, as -skip '^Example' would, and says so on stderr. Main does not
// start the server to find out: binaries that are found but cannot start
// one skip the tests and fail the examples, with the server's error.
func Main(m *testing.M) {
	if !flag.Parsed() {
		flag.Parse()
	}
	if !serverExpected(findBinDir) {
		skipExamples(os.Stderr)
	}
	code := m.Run()
	if err := closeShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// serverExpected reports whether NewDB can expect a PostgreSQL: one named
// by $TXHISTORY_TEST_DSN, server binaries that find locates, or $CI true
// (where a missing one is a failure, not a skip).
func serverExpected(find func(explicit string) (string, error)) bool {
	if os.Getenv(EnvDSN) != "" {
		return true
	}
	if ci, _ := strconv.ParseBool(os.Getenv(EnvCI)); ci {
		return true
	}
	_, err := find("")
	return err == nil
}

// skipExamples adds the package's examples to the test binary's -skip
// pattern, which M.Run reads when it runs them. M.Run splits the pattern
// at a top-level "|" before it splits each alternative at "/" into
// subtest levels, so "^Example" is added as an alternative of its own,
// whatever levels the others name. A pattern that does not compile is
// left as it is, for M.Run to report: one ending in a backslash would
// otherwise escape the "|".
func skipExamples(w io.Writer) {
	f := flag.Lookup("test.skip")
	if f == nil {
		return
	}
	pattern := "^Example"
	if cur := f.Value.String(); cur != "" {
		if _, err := regexp.Compile(cur); err != nil {
			return
		}
		pattern = cur + "|" + pattern
	}
	if err := f.Value.Set(pattern); err != nil {
		return
	}
	fmt.Fprintf(w, "pgtest: no PostgreSQL available (no server binaries found, $%s unset): skipping this package's runnable examples\n", EnvDSN)
}

func closeShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.closed {
		return nil
	}
	shared.closed = true
	var errs []error
	// Databases Open created and nobody dropped, such as one an
	// application's TestMain opened before calling Main, which exits: on
	// the server of $TXHISTORY_TEST_DSN they would stay behind.
	for db, release := range shared.opened {
		errs = append(errs, release())
		delete(shared.opened, db)
	}
	if shared.admin != nil {
		errs = append(errs, shared.admin.Close())
	}
	if shared.server != nil {
		if err := shared.server.Close(); err != nil {
			errs = append(errs, fmt.Errorf("pgtest: closing shared server: %w", err))
		}
	}
	return errors.Join(errs...)
}

// databaseName makes a database name from a test name: the prefix, up to 40
// characters of the lower-cased test name with runs of anything but letters
// and digits turned into "_", and 8 random hex digits. The result is a plain
// identifier of at most 51 bytes.
func databaseName(testName string) string {
	var b strings.Builder
	underscore := true // no leading "_"
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 40 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			underscore = false
		} else if !underscore {
			b.WriteByte('_')
			underscore = true
		}
	}
	stem := strings.TrimSuffix(b.String(), "_")
	if stem == "" {
		stem = "test"
	}
	var random [4]byte
	_, _ = rand.Read(random[:])
	return DBPrefix + stem + "_" + hex.EncodeToString(random[:])
}

// withDBName points a lib/pq connection string, URL or key=value form, at
// database name.
func withDBName(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// url's error quotes the input, which may hold a password.
			return "", errors.New("connection URL does not parse")
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String(), nil
	}
	// In key=value form a later key overrides an earlier one.
	return strings.TrimSpace(dsn) + " dbname=" + name, nil
}

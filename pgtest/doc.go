// Package pgtest gives tests a real PostgreSQL: an empty database per test,
// or a whole server a test may stop, restart and kill.
//
// It is public API so that applications embedding txhistory can test
// against the same setup txhistory tests itself with. There are no mocks
// here; everything talks to a real server.
//
// # A database per test
//
// Add a TestMain that calls Main, then ask for a database in each test:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestCheckpoint(t *testing.T) {
//		t.Parallel()
//		db := pgtest.NewDB(t) // empty; dropped when the test ends
//		if err := schema.Migrate(context.Background(), db); err != nil {
//			t.Fatal(err)
//		}
//		// ...
//	}
//
// NewDB creates a database named after the test (t_<test name>_<random>)
// and drops it in t.Cleanup. NewDSN does the same but returns the
// connection string, for tests that start a child process.
//
// Code without a testing.TB, such as a runnable Example checked against its
// "// Output:" comment, uses Open instead: the same kind of database, with
// a function that drops it, and an error where NewDB would skip. An
// example cannot skip itself: where there is no PostgreSQL to find (no
// server binaries, no $TXHISTORY_TEST_DSN, $CI not true), Main leaves the
// package's examples out. Server binaries that are found but cannot start
// a server (say, as root with no user to run them as) still skip the
// tests, but fail the examples with Open's error: fix the setup, or leave
// them out with -skip '^Example'.
//
// # Where the server comes from
//
//   - If $TXHISTORY_TEST_DSN is set, databases are created on that server
//     (the role needs CREATEDB; PostgreSQL 13 or newer). If it cannot be
//     reached, tests calling NewDB fail: it was asked for.
//   - Otherwise the first NewDB of a test binary starts a private server from
//     the installed PostgreSQL binaries (see StartServer for how they are
//     found), in a temporary directory, on a free 127.0.0.1 port. All tests
//     of the binary share it, and Main stops it and removes its directory.
//   - If no server can be started, tests calling NewDB are skipped with the reason, or
//     fail when $CI is true ("true", "1", or another value strconv.ParseBool
//     takes as true), so a CI job cannot pass by testing nothing.
//
// # Servers for fault injection
//
// StartServer, or NewServer inside a test, starts a server of its own that
// the test may Stop, Start (same directory and port, data kept) or kill, to
// show how code behaves when PostgreSQL restarts mid-batch. Server has no
// kill method: send SIGKILL to the postmaster, whose pid is the first line
// of Dir()/postmaster.pid, then Stop (which reaps it) and Start. Do not do
// that to SharedServer: other tests are using it.
//
// # Running as root
//
// initdb and postgres refuse to run as root. When the test binary is root,
// as in many containers, they run as the "postgres" user if there is one and
// as "nobody" otherwise; pgtest hands the data directory to that user and
// makes its temporary parent searchable. A data directory under a path that
// user cannot enter (say /root) is reported as an error naming the culprit;
// point $TMPDIR or ServerOptions.Dir elsewhere.
//
// # Guarantees
//
//   - Databases of different tests are isolated and always dropped, even
//     when the test fails or panics. A test binary that is killed or times
//     out (-timeout) drops nothing: on a private server they go with it,
//     but on the server of $TXHISTORY_TEST_DSN they stay, named DBPrefix
//     and the test's name, for whoever runs that server to drop.
//   - No server outlives the test binary that started it: Main closes the
//     shared one, and on Linux every server also gets a parent-death signal
//     (immediate shutdown) in case the binary is killed or times out.
//     Temporary directories such a death leaves behind are removed by the
//     next StartServer once their owner is gone.
//   - Servers are fast and not crash-safe unless ServerOptions.Durable is
//     set: fsync, synchronous_commit and full_page_writes are off.
//
// pgtest supports Unix-like systems only.
package pgtest

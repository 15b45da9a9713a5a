package pgtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Open gives code without a testing.TB a database of its own, named after
// what it asks for, and its close drops it even with a session still on it.
func TestOpenDropsItsDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if err := setup(); err != nil {
		unavailable(t, err)
	}
	db, drop, err := Open(ctx, "ExampleOpen")
	if err != nil {
		t.Fatal(err)
	}
	var name string
	mustGet(t, db, &name, `SELECT current_database()`)
	if !strings.HasPrefix(name, DBPrefix+"exampleopen_") {
		t.Fatalf("database name %q does not follow the name asked for", name)
	}
	held, err := db.Connx(ctx) // a session still open at the drop
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := drop(); err != nil {
		t.Fatal(err)
	}
	var n int
	mustGet(t, shared.admin, &n, `SELECT count(*) FROM pg_database WHERE datname = $1`, name)
	if n != 0 {
		t.Fatalf("database %q still exists after its drop", name)
	}
	if err := held.PingContext(ctx); err == nil {
		t.Fatal("session on the dropped database still works")
	}
}

// A database for a runnable example: what an Example function writes
// before the code it shows.
func ExampleOpen() {
	ctx := context.Background()
	db, drop, err := Open(ctx, "ExampleOpen")
	if err != nil {
		panic(err)
	}
	defer func() {
		if err := drop(); err != nil {
			panic(err)
		}
	}()
	var sum int
	if err := db.GetContext(ctx, &sum, `SELECT $1::int + $2::int`, 40, 2); err != nil {
		panic(err)
	}
	fmt.Println(sum)
	// Output: 42
}

// Without a PostgreSQL to expect, Main leaves the examples out, which
// cannot skip themselves; with one (binaries, $TXHISTORY_TEST_DSN or $CI)
// it does not.
func TestMainSkipsExamplesOnlyWithoutAServer(t *testing.T) {
	found := func(string) (string, error) { return "/usr/lib/postgresql/15/bin", nil }
	missing := func(string) (string, error) { return "", errors.New("no initdb") }
	t.Setenv(EnvDSN, "")
	t.Setenv(EnvCI, "")
	if !serverExpected(found) {
		t.Error("binaries found: want a server expected")
	}
	if serverExpected(missing) {
		t.Error("no binaries, no DSN, no CI: want no server expected")
	}
	t.Setenv(EnvCI, "true")
	if !serverExpected(missing) {
		t.Error("$CI true: want a server expected (a missing one fails)")
	}
	t.Setenv(EnvCI, "")
	t.Setenv(EnvDSN, "postgres://localhost/x")
	if !serverExpected(missing) {
		t.Error("$TXHISTORY_TEST_DSN set: want a server expected")
	}

	skip := flag.Lookup("test.skip")
	if skip == nil {
		t.Fatal("no test.skip flag")
	}
	saved := skip.Value.String()
	t.Cleanup(func() { _ = skip.Value.Set(saved) })
	for _, c := range []struct{ before, after string }{
		{"", "^Example"},
		{"TestSlow", "TestSlow|^Example"},
		{"TestA/sub", "TestA/sub|^Example"},
		{`TestA\`, `TestA\`},
	} {
		if err := skip.Value.Set(c.before); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		skipExamples(&out)
		if got := skip.Value.String(); got != c.after {
			t.Errorf("-skip %q: became %q, want %q", c.before, got, c.after)
		}
		if c.before != c.after && !strings.Contains(out.String(), "skipping this package's runnable examples") {
			t.Errorf("-skip %q: said %q", c.before, out.String())
		}
	}
}

// The test binary itself, run as an embedder's `go test -skip …` would run
// it on a machine without PostgreSQL ($PG_BINDIR naming nothing): whatever
// the -skip pattern, a subtest's included, the examples are left out and
// the package passes, as its tests skip. A pattern that does not compile
// is left for M.Run to report, as before.
func TestMainSkipsExamplesWhateverTheSkipPattern(t *testing.T) {
	for _, c := range []struct {
		skip string
		fail bool
	}{{"", false}, {"TestSlow", false}, {"TestA/sub", false}, {"TestA/sub|TestB", false}, {`TestA\`, true}} {
		t.Run(c.skip, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^ExampleOpen$", "-test.skip="+c.skip, "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), EnvBinDir+"=/nonexistent", EnvDSN+"=", EnvCI+"=")
			out, err := cmd.CombinedOutput()
			if c.fail {
				if err == nil || !strings.Contains(string(out), "invalid regexp") {
					t.Fatalf("-skip %q: want M.Run to refuse it, got %v:\n%s", c.skip, err, out)
				}
				return
			}
			if err != nil || strings.Contains(string(out), "ExampleOpen") {
				t.Fatalf("-skip %q without PostgreSQL: want the example left out and a pass, got %v:\n%s", c.skip, err, out)
			}
			if !strings.Contains(string(out), "skipping this package's runnable examples") {
				t.Fatalf("-skip %q: did not say the examples were left out:\n%s", c.skip, out)
			}
		})
	}
}

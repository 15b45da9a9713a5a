package pgtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// Open gives code without a testing.TB a database of its own, named after
// what it asks for, and its close drops it even with a session still on it.
func TestOpenDropsItsDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
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

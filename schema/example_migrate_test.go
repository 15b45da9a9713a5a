package schema_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
)

// Migrate txhistory's tables into a schema of the exchange's choosing at
// startup, and check the version before anything reads or writes them.
func ExampleMigrate() {
	ctx := context.Background()
	db, drop, err := pgtest.Open(ctx, "ExampleMigrate")
	if err != nil {
		panic(err)
	}
	defer drop()
	// The tables live in a PostgreSQL schema of their own, beside the
	// exchange's; every txhistory call that touches them takes the same name.
	in := schema.WithSchema("exchange_txhistory")

	// A database that an older release migrated, here up to 003_withdrawal,
	// is behind this build: CheckCurrent says so, and nothing should use it.
	if err := schema.Migrate(ctx, db, in, schema.WithTargetVersion(3)); err != nil {
		panic(err)
	}
	v, err := schema.CheckVersion(ctx, db, in)
	if err != nil {
		panic(err)
	}
	fmt.Println("older release's version:", v)
	err = schema.CheckCurrent(ctx, db, in)
	fmt.Println("CheckCurrent: not migrated:", errors.Is(err, schema.ErrNotMigrated))

	// Startup runs Migrate: it applies every pending migration in one
	// transaction, and only ever moves up. Running it again, as every start
	// does, is a cheap no-op.
	for range 2 {
		if err := schema.Migrate(ctx, db, in); err != nil {
			panic(err)
		}
	}
	v, err = schema.CheckVersion(ctx, db, in)
	if err != nil {
		panic(err)
	}
	fmt.Println("version reached is this build's Latest:", v == schema.Latest())
	fmt.Println("CheckCurrent:", schema.CheckCurrent(ctx, db, in))

	// Versions lists what was applied, oldest first.
	applied, err := schema.Versions(ctx, db, in)
	if err != nil {
		panic(err)
	}
	for _, a := range applied[:3] {
		fmt.Printf("%03d_%s\n", a.Version, a.Name)
	}
	fmt.Println("migrations recorded:", len(applied) == schema.Latest())
	// The exchange's own SQL names the tables with Qualify, which quotes.
	fmt.Println(schema.Qualify("exchange_txhistory", "token_history"))
	// Output:
	// older release's version: 3
	// CheckCurrent: not migrated: true
	// version reached is this build's Latest: true
	// CheckCurrent: <nil>
	// 001_core
	// 002_tokenstd
	// 003_withdrawal
	// migrations recorded: true
	// "exchange_txhistory"."token_history"
}

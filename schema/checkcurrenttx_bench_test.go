package schema_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/schema"
)

// BenchmarkCheckCurrentTx measures what schema.CheckCurrentTx adds to a
// transaction (every ingestion batch runs it): a transaction with the
// check against an empty one, BEGIN and COMMIT included, on the same
// connection pool. Compare the two sub-benchmarks' ns/op.
func BenchmarkCheckCurrentTx(b *testing.B) {
	ctx := context.Background()
	db, opt := migratedDB(b, "bench")
	for _, c := range []struct {
		name  string
		check bool
	}{{"empty", false}, {"check", true}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				tx, err := db.BeginTxx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				if c.check {
					if err := schema.CheckCurrentTx(ctx, tx, opt); err != nil {
						b.Fatal(err)
					}
				} else if _, err := tx.ExecContext(ctx, `SELECT 1`); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

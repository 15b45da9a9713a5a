package tokenstd_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
)

func benchView(b *testing.B, n int) []*ledger.Transaction {
	b.Helper()
	d := (&ledgertest.TokenWorld{Sequence: true}).DemoHistory(treasury, n)
	var view []*ledger.Transaction
	for _, tx := range d.Transactions {
		if v := ledgertest.TokenProjection(tx, treasury); v != nil {
			view = append(view, v)
		}
	}
	return view
}

// BenchmarkTokenClassify measures the pure classifier per transaction of a
// mixed history.
func BenchmarkTokenClassify(b *testing.B) {
	view := benchView(b, 2000)
	b.ResetTimer()
	for b.Loop() {
		set := tokenstd.NewHoldingSet()
		for _, tx := range view {
			es, err := tokenstd.Classify(tx, treasury, set)
			if err != nil {
				b.Fatal(err)
			}
			set.Apply(es)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(view)), "ns/tx")
}

// BenchmarkTokenHistoryHandleBatch measures the handler writing batches of
// 200 transactions to PostgreSQL, one SQL transaction each.
func BenchmarkTokenHistoryHandleBatch(b *testing.B) {
	view := benchView(b, 2000)
	ctx := context.Background()
	var handled int
	for b.Loop() {
		b.StopTimer()
		db := pgtest.NewDB(b)
		if err := schema.Migrate(ctx, db, schema.WithSchema(testSchema)); err != nil {
			b.Fatal(err)
		}
		h, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Schema: testSchema})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for start := 0; start < len(view); start += 200 {
			tx, err := db.BeginTxx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := h.HandleBatch(ctx, tx, &ingest.Batch{Transactions: view[start:min(start+200, len(view))]}); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		handled += len(view)
	}
	b.ReportMetric(float64(handled)/b.Elapsed().Seconds(), "tx/s")
}

package tokenstd

import (
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
)

// BenchmarkHistoryClassifyPath measures the History handler's CPU per
// transfer apart from the database, on the bench's workload
// (ledgertest.TransferHistory: nine deposits, then a withdrawal spending
// the holding the deposit before it created): Prepare for each transaction
// in stream order, then, as HandleBatch does, the prepared entries where
// they hold against the batch's holding set and Classify again where they
// do not. "redone/tx" is the share of transactions classified twice.
func BenchmarkHistoryClassifyPath(b *testing.B) {
	const treasury, n, batch = "treasury::1220bench", 2000, 1000
	th := ledgertest.TransferHistory{Treasury: treasury}
	txs := make([]*ledger.Transaction, n)
	for i := range txs {
		txs[i] = th.Tx(i + 1)
	}
	redone := 0
	for b.Loop() {
		h, err := NewHistory(Config{Treasury: treasury})
		if err != nil {
			b.Fatal(err)
		}
		set := NewHoldingSet()
		for start := 0; start < n; start += batch {
			bt := (&ingest.Batch{Transactions: txs[start : start+batch]}).WithPrepared(h.Prepare)
			for _, t := range bt.Transactions {
				entries, ok := h.prepared(bt, t, set)
				if !ok {
					redone++
					if entries, err = h.classifier.Classify(t, set); err != nil {
						b.Fatal(err)
					}
				}
				set.Apply(entries)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/tx")
	b.ReportMetric(float64(redone)/float64(b.N*n), "redone/tx")
}

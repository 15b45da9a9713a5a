package ingest_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

var (
	holdingTpl  = ledger.MustParseIdentifier("#bench-token:Bench.Token:Holding")
	factoryTpl  = ledger.MustParseIdentifier("#bench-token:Bench.Token:Factory")
	benchSender = "alice::1220beef"
)

// transferTx is a synthetic 1-step token transfer to the treasury: an
// exercise of TransferFactory_Transfer that consumes the sender's input
// holding and creates the receiver's holding and the sender's change, each
// with a Holding interface view, as a ledger-effects stream shows it.
func transferTx(n int) *ledger.Transaction {
	instrument := ledger.Record(nil, ledger.F("admin", ledger.Party("dso::1220")), ledger.F("id", ledger.Text("Amulet")))
	meta := ledger.Record(nil, ledger.F("values", ledger.TextMapOf(map[string]string{
		"splice.lfdecentralizedtrust.org/tx-kind": "transfer",
		"splice.lfdecentralizedtrust.org/reason":  fmt.Sprintf("account-%d", n%1000),
	})))
	holding := func(node int32, owner, amount string) *ledger.CreatedEvent {
		view := ledger.Record(nil,
			ledger.F("owner", ledger.Party(owner)),
			ledger.F("instrumentId", instrument),
			ledger.F("amount", ledger.Numeric(amount)),
			ledger.F("lock", ledger.None()),
			ledger.F("meta", ledger.Record(nil, ledger.F("values", ledger.TextMap()))),
		)
		return &ledger.CreatedEvent{
			NodeID: node, ContractID: fmt.Sprintf("00h%08d%02d", n, node), TemplateID: holdingTpl,
			CreateArguments: view,
			InterfaceViews:  []ledger.InterfaceView{{InterfaceID: ledger.HoldingInterface, Value: view}},
			WitnessParties:  []string{owner, treasury}, Signatories: []string{"dso::1220", owner},
		}
	}
	transfer := ledger.Record(nil,
		ledger.F("sender", ledger.Party(benchSender)),
		ledger.F("receiver", ledger.Party(treasury)),
		ledger.F("amount", ledger.Numeric("10.0000000000")),
		ledger.F("instrumentId", instrument),
		ledger.F("inputHoldingCids", ledger.List(ledger.ContractID(fmt.Sprintf("00in%08d", n)))),
		ledger.F("meta", meta),
	)
	return &ledger.Transaction{
		CommandID: fmt.Sprintf("bench-%d", n),
		Events: []ledger.Event{
			&ledger.ExercisedEvent{
				NodeID: 0, ContractID: "00factory", TemplateID: factoryTpl, InterfaceID: &ledger.TransferFactoryInterface,
				Choice: "TransferFactory_Transfer", ChoiceArgument: ledger.Record(nil, ledger.F("transfer", transfer)),
				ActingParties: []string{benchSender}, WitnessParties: []string{benchSender, treasury}, LastDescendantNodeID: 3,
				ExerciseResult: ledger.Record(nil, ledger.F("output", ledger.Variant(nil, "TransferInstructionResult_Completed", ledger.Unit()))),
			},
			&ledger.ExercisedEvent{
				NodeID: 1, ContractID: fmt.Sprintf("00in%08d", n), TemplateID: holdingTpl, Choice: "Archive",
				ChoiceArgument: ledger.Record(nil), Consuming: true, ActingParties: []string{benchSender},
				WitnessParties: []string{benchSender, treasury}, LastDescendantNodeID: 1, ExerciseResult: ledger.Unit(),
			},
			holding(2, treasury, "10.0000000000"),
			holding(3, benchSender, "90.0000000000"),
		},
	}
}

// batchEffects writes one row per transaction with a single multi-row insert.
var batchEffects = ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
	if len(b.Transactions) == 0 {
		return nil
	}
	ids := make([]string, len(b.Transactions))
	offs := make([]int64, len(b.Transactions))
	evs := make([]int64, len(b.Transactions))
	rts := make([]string, len(b.Transactions))
	for i, t := range b.Transactions {
		ids[i], offs[i], evs[i], rts[i] = t.UpdateID, t.Offset, int64(len(t.Events)), t.RecordTime.Format(time.RFC3339Nano)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO effects SELECT * FROM unnest($1::text[], $2::bigint[], $3::int[], $4::timestamptz[])`,
		pq.Array(ids), pq.Array(offs), pq.Array(evs), pq.Array(rts))
	return err
})

// BenchmarkIngestTransfers ingests TXHISTORY_BENCH_N (default 100,000)
// synthetic transfer transactions from the fake participant over loopback
// gRPC into PostgreSQL, and reports tx/s and peak memory of this process
// (the fake participant runs in it too). Run it with:
//
//	go test -run '^$' -bench IngestTransfers -benchtime 1x ./ingest/
func BenchmarkIngestTransfers(b *testing.B) {
	n := 100_000
	if s := os.Getenv("TXHISTORY_BENCH_N"); s != "" {
		v, err := strconv.Atoi(s)
		require.NoError(b, err)
		n = v
	}
	tb := setup(b)
	b.Logf("appending %d transfer transactions to the fake participant", n)
	for i := 0; i < n; i += 10_000 {
		txs := make([]*ledger.Transaction, 0, 10_000)
		for j := i; j < min(n, i+10_000); j++ {
			txs = append(txs, transferTx(j))
		}
		_, err := tb.p.Append(txs...)
		require.NoError(b, err)
	}
	base, sampler := heapBaseline()
	b.ResetTimer()
	for range b.N {
		restartIngestion(b, tb)
		start := time.Now()
		ing := newIngester(b, tb, ingest.Config{Handler: batchEffects, EndOffset: tb.p.LedgerEnd()})
		require.NoError(b, ing.Run(context.Background()))
		elapsed := time.Since(start)
		require.Equal(b, int64(n), ing.Stats().Transactions)
		b.ReportMetric(float64(n)/elapsed.Seconds(), "tx/s")
	}
	b.StopTimer()
	heap := sampler.Stop()
	// The fake participant keeps its whole ledger in this process: report
	// the heap above that baseline as the ingestion's own peak.
	b.ReportMetric(float64(heap-min(heap, base.HeapInuse))/(1<<20), "ingest-peak-heap-MB")
	b.ReportMetric(float64(base.HeapInuse)/(1<<20), "fake-ledger-heap-MB")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MB")
	b.ReportMetric(0, "ns/op")
}

// heapBaseline collects garbage and returns the heap's state after it, and a
// sampler of the peak heap from then on.
func heapBaseline() (runtime.MemStats, *peakSampler) {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	return base, startPeakSampler()
}

// restartIngestion empties the effects, the dedup rows and the checkpoint,
// outside the benchmark's timer, so that the next Ingester starts over.
func restartIngestion(b *testing.B, tb *testBundle) {
	b.StopTimer()
	defer b.StartTimer()
	_, err := tb.db.Exec(`TRUNCATE effects, txhistory.ingested_update, txhistory.checkpoint, txhistory.synchronizer_time`)
	require.NoError(b, err)
}

// peakSampler records the peak Go heap while running.
type peakSampler struct {
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func startPeakSampler() *peakSampler {
	s := &peakSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > s.peak.Load() {
				s.peak.Store(ms.HeapInuse)
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *peakSampler) Stop() uint64 { close(s.stop); <-s.done; return s.peak.Load() }

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func peakRSS() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// bigTx is a transaction of the treasury with events created contracts,
// each with a record of a few fields: some 150 bytes per event as it
// arrives, about a kilobyte decoded.
func bigTx(n, events int) *ledger.Transaction {
	tx := &ledger.Transaction{CommandID: fmt.Sprintf("big-%d", n)}
	for i := range events {
		tx.Events = append(tx.Events, &ledger.CreatedEvent{
			NodeID:     int32(i),
			ContractID: fmt.Sprintf("00big%06d%05d", n, i),
			TemplateID: ledger.MustParseIdentifier("#test-pkg:Test.Module:Thing"),
			CreateArguments: ledger.Record(nil,
				ledger.F("owner", ledger.Party(treasury)),
				ledger.F("n", ledger.Int64(int64(i))),
				ledger.F("amount", ledger.Numeric(fmt.Sprintf("%d.5000000000", i))),
				ledger.F("note", ledger.Text(fmt.Sprintf("line %d of transaction %d", i, n))),
			),
			WitnessParties: []string{treasury},
			Signatories:    []string{treasury},
		})
	}
	return tx
}

// BenchmarkIngestLargeTransactions measures what StreamBufferBytes is
// for: the memory held by decoded updates waiting for a database slower
// than the stream, when transactions are large. The fake participant
// makes 600 transactions of 400 events each as they are streamed; the
// handler takes 10 ms per transaction, so the stream buffer fills. With
// the counts alone (StreamBufferBytes off) the Ingester may hold
// StreamBuffer + a batch of them; with the default 16 MiB bound, about 16
// MiB of them as they arrived. It reports this process's peak Go heap
// above what it held before (the fake runs in this process too, but keeps
// no transactions), and the largest batch. Run it with:
//
//	go test -run '^$' -bench IngestLargeTransactions -benchtime 1x ./ingest/
func BenchmarkIngestLargeTransactions(b *testing.B) {
	const n, events = 600, 400
	slow := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
		time.Sleep(time.Duration(len(bt.Transactions)) * 10 * time.Millisecond)
		return batchEffects(ctx, tx, bt)
	})
	for _, c := range []struct {
		name  string
		bytes int
	}{{"bytes=default", 0}, {"bytes=off", 1 << 40}} {
		b.Run(c.name, func(b *testing.B) {
			tb := setup(b)
			// Made on demand, so that the fake's ledger is not part of
			// the heap (nor of the GC's headroom).
			require.NoError(b, tb.p.AppendFunc(n, func(i int) *ledger.Transaction { return bigTx(i, events) }))
			base, sampler := heapBaseline()
			sizes := &batchSizes{}
			b.ResetTimer()
			for range b.N {
				restartIngestion(b, tb)
				ing := newIngester(b, tb, ingest.Config{Handler: ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
					sizes.mu.Lock()
					sizes.sizes = append(sizes.sizes, len(bt.Transactions))
					sizes.mu.Unlock()
					return slow(ctx, tx, bt)
				}), EndOffset: tb.p.LedgerEnd(), StreamBufferBytes: c.bytes})
				require.NoError(b, ing.Run(context.Background()))
				require.Equal(b, int64(n), ing.Stats().Transactions)
			}
			b.StopTimer()
			heap := sampler.Stop()
			b.ReportMetric(float64(heap-min(heap, base.HeapInuse))/(1<<20), "ingest-peak-heap-MB")
			b.ReportMetric(float64(sizes.max()), "max-batch")
			b.ReportMetric(float64(proto.Size(bigTx(0, events).Proto()))/1024, "tx-KB-encoded")
			b.ReportMetric(0, "ns/op")
		})
	}
}

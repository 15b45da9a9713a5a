package withdrawal_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// BenchmarkIngestWithdrawalHeavy ingests TXHISTORY_BENCH_N (default
// 20,000) transactions of a TransferHistory where every second one is a
// 1-step withdrawal paying out of the treasury's own holding (the deposit
// just before it created), each requested beforehand, with the History
// handler and the Reconciler, from the fake participant over loopback gRPC
// into PostgreSQL, and reports tx/s. Every withdrawal makes the batch read
// back a consumed treasury holding (History's look-up) and lock its
// request (the Reconciler's, which expires due withdrawals in the same
// statement). It also reports the CPU time per transaction of this
// process (the Ingester and the fake participant) and of the PostgreSQL
// server (its backends, live or reaped, and the postmaster), from /proc.
// Run it with:
//
//	go test -run '^$' -bench IngestWithdrawalHeavy -benchtime 3x ./withdrawal/
func BenchmarkIngestWithdrawalHeavy(b *testing.B) {
	n := 20_000
	if s := os.Getenv("TXHISTORY_BENCH_N"); s != "" {
		v, err := strconv.Atoi(s)
		require.NoError(b, err)
		n = v
	}
	ctx := context.Background()
	h := ledgertest.TransferHistory{Treasury: treasury, WithdrawEvery: 2}
	p, err := ledgertest.New()
	require.NoError(b, err)
	b.Cleanup(p.Close)
	require.NoError(b, p.AppendFunc(n, h.Tx))
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(b, err)
	b.Cleanup(func() { _ = client.Close() })
	var elapsed, selfCPU, pgCPU time.Duration
	var ingested int64
	for b.Loop() {
		b.StopTimer()
		db := pgtest.NewDB(b)
		require.NoError(b, schema.Migrate(ctx, db))
		requested := seedBenchRequests(b, db, h, n)
		history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog})
		require.NoError(b, err)
		store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Logger: quietLog})
		require.NoError(b, err)
		rec, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{History: history, Logger: quietLog})
		require.NoError(b, err)
		ing, err := ingest.New(db, client, ingest.Config{Parties: []string{treasury}, Handler: ingest.Handlers(history, rec),
			EndOffset: p.LedgerEnd(), Logger: quietLog})
		require.NoError(b, err)
		var backend int
		require.NoError(b, db.GetContext(ctx, &backend, `SELECT pg_backend_pid()`))
		postmaster, _, _, ok := procCPU(strconv.Itoa(backend))
		require.True(b, ok, "reading the PostgreSQL backend's /proc entry")
		_, self0, _, _ := procCPU("self")
		pg0 := serverCPU(postmaster)
		b.StartTimer()
		start := time.Now()
		require.NoError(b, ing.Run(ctx))
		elapsed += time.Since(start)
		b.StopTimer()
		_, self1, _, _ := procCPU("self")
		selfCPU += self1 - self0
		pgCPU += serverCPU(postmaster) - pg0
		require.Equal(b, int64(n), ing.Stats().Transactions)
		var completed int
		require.NoError(b, db.GetContext(ctx, &completed, `SELECT count(*) FROM `+schema.Qualify(schema.DefaultName, withdrawal.Table)+` WHERE status = 'completed'`))
		require.Equal(b, requested, completed, "withdrawals completed")
		ingested += int64(n)
		b.StartTimer()
	}
	b.ReportMetric(float64(ingested)/elapsed.Seconds(), "tx/s")
	b.ReportMetric(float64(selfCPU.Microseconds())/float64(ingested), "self-cpu-µs/tx")
	b.ReportMetric(float64(pgCPU.Microseconds())/float64(ingested), "pg-cpu-µs/tx")
}

// procCPU reads /proc/<pid>/stat: the parent's pid, the CPU time the
// process used and that of its children it reaped.
func procCPU(pid string) (ppid int, own, reaped time.Duration, ok bool) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	_, rest, found := strings.Cut(string(data), ") ") // after the command's name
	f := strings.Fields(rest)
	if !found || len(f) < 15 {
		return 0, 0, 0, false
	}
	tick := func(i int) time.Duration {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		return time.Duration(v) * 10 * time.Millisecond
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, tick(11) + tick(12), tick(13) + tick(14), true
}

// serverCPU is the CPU time of the PostgreSQL server whose postmaster is
// pid: the postmaster's, what it reaped, and its live children's.
func serverCPU(pid int) time.Duration {
	_, own, reaped, _ := procCPU(strconv.Itoa(pid))
	total := own + reaped
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		if ppid, own, _, ok := procCPU(e.Name()); ok && ppid == pid {
			total += own
		}
	}
	return total
}

// seedBenchRequests stores a request for each withdrawal among the first n
// transactions of h, as examples/bench's seedRequests does (status
// requested, the spent holding reserved, trecTgt far ahead), and returns
// how many.
func seedBenchRequests(b *testing.B, db *sqlx.DB, h ledgertest.TransferHistory, n int) int {
	b.Helper()
	var ids, admins, instruments, receivers, inputs, amounts []string
	for i := range n {
		wd, ok := h.Withdrawal(i)
		if !ok {
			continue
		}
		ids, admins, instruments = append(ids, wd.ID), append(admins, wd.Instrument.Admin), append(instruments, wd.Instrument.ID)
		receivers, inputs, amounts = append(receivers, wd.Receiver), append(inputs, wd.Input), append(amounts, wd.Amount)
	}
	q := func(table string) string { return schema.Qualify(schema.DefaultName, table) }
	_, err := db.Exec(`WITH w AS (
			INSERT INTO `+q(withdrawal.Table)+` (id, user_account, amount, instrument_admin, instrument_id, receiver,
				reserved_holdings, reserved_funds, trec_tgt, status)
			SELECT id, 'bench', amount::numeric, admin, inst, receiver, ARRAY[input], amount::numeric + $7::numeric, $8, 'requested'
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS r(id, admin, inst, receiver, input, amount)
			RETURNING id, reserved_holdings[1] AS input)
		INSERT INTO `+q("withdrawal_reservation")+` (contract_id, withdrawal_id) SELECT input, id FROM w`,
		pq.Array(ids), pq.Array(admins), pq.Array(instruments), pq.Array(receivers), pq.Array(inputs), pq.Array(amounts),
		ledgertest.WithdrawalFee, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(b, err)
	return len(ids)
}

package metrics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/metrics"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// TestRV135StandbyRecordTimeIsTheStoredCheckpoints: an ingester that was
// active (it ingested, then lost the lock: a database restart, another
// instance took it) and now waits as a standby shows the stored
// checkpoint's offset and lag, which the active instance moves. Its
// record-time metrics must be that checkpoint's too, not those of what it
// ingested itself hours ago: else txhistory_record_time_lag_seconds grows
// without bound on the standby, and the suggested alert
// "txhistory_record_time_lag_seconds > 600 and txhistory_ledger_end_lag > 0"
// fires for it whenever the active instance is an offset behind.
func TestRV135StandbyRecordTimeIsTheStoredCheckpoints(t *testing.T) {
	const party = "treasury::1220ab"
	old := time.Now().Add(-2 * time.Hour).UTC()
	p, err := ledgertest.New(ledgertest.WithStartTime(old))
	require.NoError(t, err)
	defer p.Close()
	appendTxs := func(from, n int, at time.Time) {
		t.Helper()
		for i := from; i < from+n; i++ {
			tx := &ledger.Transaction{Events: []ledger.Event{&ledger.CreatedEvent{
				ContractID: fmt.Sprintf("00c%d", i), TemplateID: ledger.MustParseIdentifier("#pkg:Mod:T"),
				CreateArguments: ledger.Record(nil, ledger.F("owner", ledger.Party(party))),
				WitnessParties:  []string{party}, Signatories: []string{party},
			}}}
			if !at.IsZero() {
				tx.RecordTime = at.Add(time.Duration(i) * time.Millisecond)
			}
			_, err := p.Append(tx)
			require.NoError(t, err)
		}
	}
	appendTxs(0, 10, time.Time{}) // two hours ago
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(context.Background(), db))
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	defer client.Close()
	newIngester := func() *ingest.Ingester {
		ing, err := ingest.New(db, client, ingest.Config{Parties: []string{party}, LockPoll: 10 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		require.NoError(t, err)
		return ing
	}
	run := func(ing *ingest.Ingester) func() {
		done := make(chan error, 1)
		go func() { done <- ing.Run(context.Background()) }()
		return func() { ing.Stop(); require.NoError(t, <-done) }
	}

	// The first instance ingests the old transactions, then loses the lock.
	first := newIngester()
	stopFirst := run(first)
	require.Eventually(t, func() bool { return first.Stats().Offset == p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)
	stopFirst()

	// Another instance takes over and ingests new transactions, of now.
	appendTxs(10, 10, time.Now().UTC())
	active := newIngester()
	stopActive := run(active)
	defer stopActive()
	require.Eventually(t, func() bool { return active.Stats().Offset == p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)

	// The first one runs again, as the standby.
	stopStandby := run(first)
	defer stopStandby()
	require.Eventually(t, func() bool { return first.Stats().State == ingest.StateWaitingForLock }, 20*time.Second, 5*time.Millisecond)

	h := metrics.Handler(first.Stats, metrics.Options{LedgerEndLag: first.LedgerEndLag})
	_, _, body := get(t, h, "/metrics")
	m := parse(t, body)
	require.Equal(t, float64(p.LedgerEnd()), m["txhistory_checkpoint_offset"], "the standby shows the stored checkpoint")
	require.Equal(t, 0.0, m["txhistory_ledger_end_lag"])
	want := active.Stats().RecordTimes[ledgertest.DefaultSynchronizer]
	require.False(t, want.IsZero())
	require.Less(t, m["txhistory_record_time_lag_seconds"], 600.0,
		"the standby's record time lag is of what it ingested before the other instance took over, not of the stored checkpoint (%s)", want)
	require.InDelta(t, float64(want.UnixNano())/1e9, m[fmt.Sprintf("txhistory_record_time_seconds{synchronizer=%q}", ledgertest.DefaultSynchronizer)], 1e-6)
}

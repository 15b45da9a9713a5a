package tokenstd_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// TestReaderPagingWhileIngesting: an exchange's readers run while the
// Ingester commits many small, overlapping (pipelined) batches. One pages
// through the history by Seq, one pages through deposits only (Kinds), one
// reads the balances and the entries in one REPEATABLE READ transaction.
// The pagers must see every entry once, in Seq order, and the snapshot
// reader balances equal to the sum of the entries' amounts (the history
// starts with the treasury's first holding).
func TestReaderPagingWhileIngesting(t *testing.T) {
	t.Run("one ingester", func(t *testing.T) { readerPaging(t, 1) })
	// Two Ingesters without the lock (LockNone), a misconfiguration the
	// checkpoint's compare-and-set stops: their batches' History writes
	// still never commit out of Seq order (the dedup claim serialises them).
	t.Run("two ingesters without the lock", func(t *testing.T) { readerPaging(t, 2) })
}

func readerPaging(t *testing.T, ingesters int) {
	b := setupHistory(t)
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	d := ledgertest.BuildDemoHistory(treasury, 400)
	_, err = p.Append(d.Transactions...)
	require.NoError(t, err)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	b.db.SetMaxOpenConns(8)

	newIngester := func(lock ingest.LockPolicy) *ingest.Ingester {
		h := newHistory(t, tokenstd.Config{Credit: creditor()})
		ing, err := ingest.New(b.db, client, ingest.Config{
			Parties: []string{treasury}, Schema: testSchema, Handler: h, EndOffset: p.LedgerEnd(), MaxBatchSize: 3,
			Lock: lock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		require.NoError(t, err)
		return ing
	}

	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	done := make(chan struct{})
	var wg sync.WaitGroup
	page := func(kinds []tokenstd.Kind, out *[]tokenstd.Entry) {
		defer wg.Done()
		var after int64
		last := false
		for {
			es, err := tokenstd.ListEntries(ctx, b.db, testSchema, tokenstd.EntryFilter{AfterSeq: after, Kinds: kinds, Limit: 5})
			if err != nil {
				t.Error(err)
				return
			}
			for _, e := range es {
				if e.Seq <= after {
					t.Errorf("Seq %d after cursor %d", e.Seq, after)
				}
				after = e.Seq
			}
			*out = append(*out, es...)
			if len(es) == 0 {
				if last {
					return
				}
				select {
				case <-done:
					last = true // one more pass after ingestion ended
				default:
				}
			}
		}
	}
	var all, deposits []tokenstd.Entry
	wg.Add(3)
	go page(nil, &all)
	go page([]tokenstd.Kind{tokenstd.KindDeposit}, &deposits)
	snapshots := 0
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			tx, err := b.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
			if err != nil {
				t.Error(err)
				return
			}
			bal, err := tokenstd.Balances(ctx, tx, testSchema)
			if err != nil {
				t.Error(err)
				_ = tx.Rollback()
				return
			}
			es, err := tokenstd.ListEntries(ctx, tx, testSchema, tokenstd.EntryFilter{})
			_ = tx.Rollback()
			if err != nil {
				t.Error(err)
				return
			}
			sum := map[tokenstd.Instrument]decimal.Decimal{}
			for _, e := range es {
				sum[e.Instrument] = sum[e.Instrument].Add(e.Amount)
			}
			for inst, s := range sum {
				if !s.Equal(bal[inst]) {
					t.Errorf("snapshot of %d entries: %v: entries sum to %s, balance %s", len(es), inst, s, bal[inst])
				}
			}
			snapshots++
		}
	}()
	if ingesters == 1 {
		require.NoError(t, newIngester(ingest.LockWait).Run(ctx))
	} else {
		errs := make(chan error, ingesters)
		for range ingesters {
			ing := newIngester(ingest.LockNone)
			go func() { errs <- ing.Run(ctx) }()
		}
		conflicts := 0
		for range ingesters {
			if err := <-errs; err != nil {
				require.ErrorIs(t, err, checkpoint.ErrConflict)
				conflicts++
			}
		}
		require.NoError(t, newIngester(ingest.LockWait).Run(ctx)) // the rest, if both stopped
		t.Logf("%d of %d ingesters stopped on a conflict", conflicts, ingesters)
	}
	close(done)
	wg.Wait()

	want, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, tokenstd.EntryFilter{})
	require.NoError(t, err)
	key := func(e tokenstd.Entry) string { return fmt.Sprintf("%d %s %d %s", e.Seq, e.UpdateID, e.NodeID, e.Kind) }
	var wantAll, wantDeposits, gotAll, gotDeposits []string
	for _, e := range want {
		wantAll = append(wantAll, key(e))
		if e.Kind == tokenstd.KindDeposit {
			wantDeposits = append(wantDeposits, key(e))
		}
	}
	for _, e := range all {
		gotAll = append(gotAll, key(e))
	}
	for _, e := range deposits {
		gotDeposits = append(gotDeposits, key(e))
	}
	require.Equal(t, wantAll, gotAll)
	require.Equal(t, wantDeposits, gotDeposits)
	t.Logf("%d entries, %d deposits, %d snapshots", len(want), len(wantDeposits), snapshots)
}

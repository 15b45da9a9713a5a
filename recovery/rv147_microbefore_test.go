package recovery_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// rv147Steps is script(80) with tx 44 to 48 sharing a record time T and
// tx 43 exactly one microsecond before T.
func rv147Steps() ([]*ledger.Transaction, time.Time) {
	var txs []*ledger.Transaction
	var prev time.Time
	for _, s := range script(80, 45, 46, 47, 48) {
		tx := s.tx(prev)
		prev = tx.RecordTime
		txs = append(txs, tx)
	}
	T := txs[43].RecordTime
	txs[42].RecordTime = T.Add(-time.Microsecond)
	return txs, T
}

// The runbook's lookups at the microsecond boundary: tx 43 is exactly
// 1µs before T, the record time tx 44 to 48 share. Ingestion stopped after
// tx 46 (tRecovery = T): the non-unique lookup as of T − 1µs finds tx 43,
// which is not read again. Stopped after tx 43 (tRecovery = T − 1µs): the
// non-unique lookup as of T − 2µs finds tx 42 and tx 43 is read again and
// skipped; the unique lookup as of T − 1µs finds tx 43 itself. Every run
// ends with the history of an undisturbed participant, without a duplicate.
func TestRV147LookupOneMicrosecondBeforeTRecovery(t *testing.T) {
	txs, T := rv147Steps()
	ref := newBundle(t)
	_, err := ref.p.Append(txs...)
	require.NoError(t, err)
	ingestTo(t, ref, ref.p.LedgerEnd())
	want := readHistory(t, ref.db)

	for _, c := range []struct {
		mode    recovery.Mode
		last    string
		to      string // the transaction at offRecovery
		skipped int64
	}{
		{recovery.ModeNonUnique, "tx-00046", "tx-00043", 2}, // tx 45 is another party's,
		{recovery.ModeNonUnique, "tx-00043", "tx-00042", 1},
		{recovery.ModeUnique, "tx-00043", "tx-00043", 0},
	} {
		for _, admin := range behaviours {
			t.Run(fmt.Sprintf("%s/%s/%s", c.mode, c.last, admin), func(t *testing.T) {
				ctx := context.Background()
				b := newBundle(t, ledgertest.WithAdminBehaviour(admin))
				_, err := b.p.Append(txs[:20]...)
				require.NoError(t, err)
				backup := b.p.Backup()
				_, err = b.p.Append(txs[20:]...)
				require.NoError(t, err)
				ingestTo(t, b, offsetOf(t, b.p, c.last))
				b.p.Restore(backup)

				rw, err := recovery.Plan(ctx, b.db, b.client, options(c.mode))
				require.NoError(t, err)
				require.Equal(t, c.last, rw.LastUpdateID)
				require.Equal(t, offsetOf(t, b.p, c.to), rw.To, "offRecovery (lookup as of %s, T %s): %s",
					rw.LookupTime.Format(time.RFC3339Nano), T.Format(time.RFC3339Nano), rw)
				require.NoError(t, recovery.Apply(ctx, b.db, rw))
				stats := ingestTo(t, b, b.p.LedgerEnd())
				require.Equal(t, c.skipped, stats.Skipped, "transactions read again and skipped")
				require.Equal(t, want, readHistory(t, b.db))
			})
		}
	}
}

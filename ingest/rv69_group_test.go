package ingest_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// appendGroup appends n transactions (every seventh someone else's, as
// appendN) that all share record time at, as after an ACS import, a party
// migration or a repair, and returns the offsets of the group's treasury
// transactions.
func appendGroup(t testing.TB, p *ledgertest.Participant, from, n int, at time.Time) []int64 {
	t.Helper()
	txs := make([]*ledger.Transaction, 0, n)
	for i := from; i < from+n; i++ {
		party := treasury
		if i%7 == 3 {
			party = "other::1220"
		}
		tx := simpleTx(party, i)
		tx.RecordTime = at
		txs = append(txs, tx)
	}
	stored, err := p.Append(txs...)
	require.NoError(t, err)
	var offs []int64
	for i, s := range stored {
		if (from+i)%7 != 3 {
			offs = append(offs, s.Offset)
		}
	}
	return offs
}

// groupParticipant is 50 transactions, a group of 3,000 sharing one record
// time, and 50 more.
func groupParticipant(t testing.TB) (*testBundle, []int64) {
	t.Helper()
	b := setup(t)
	appendN(t, b.p, 0, 50)
	at := b.p.Transactions()[len(b.p.Transactions())-1].RecordTime.Add(time.Second)
	offs := appendGroup(t, b.p, 50, 3000, at)
	appendN(t, b.p, 3050, 50)
	return b, offs
}

// A group of thousands of transactions at one record time, spread over
// many batches (MaxBatchSize 97), ingested by runs that end at batch
// boundaries inside the group (EndOffset), that are stopped (Stop) and
// cancelled in the middle of it, and then resumed: every transaction is
// applied exactly once, as by a run without faults.
func TestRV69GroupAtOneRecordTimeStoppedAndResumed(t *testing.T) {
	b, offs := groupParticipant(t)
	cfg := ingest.Config{MaxBatchSize: 97, MaxBatchDelay: time.Millisecond}
	ctx := context.Background()

	// Bounded runs ending inside the group: at its first transaction, in
	// the middle, twice on neighbours, and at its last.
	for _, end := range []int64{offs[0], offs[1], offs[1000], offs[1001], offs[1002], offs[len(offs)-2], offs[len(offs)-1]} {
		c := cfg
		c.EndOffset = end
		require.NoError(t, newIngester(t, b, c).Run(ctx))
		require.Equal(t, end, readState(t, b.db).Checkpoint.Offset)
	}

	// Rewind to before the group, then runs stopped and cancelled after a
	// few batches, in the middle of the group (already ingested there,
	// fresh further on).
	rewindToStart(t, b, readState(t, b.db).Checkpoint.Offset)
	for i := 0; i < 6; i++ {
		c := cfg
		c.EndOffset = b.p.LedgerEnd()
		commits := 0
		var ing *ingest.Ingester
		runCtx, cancel := context.WithCancel(ctx)
		c.OnCommit = func(ingest.Stats) {
			commits++
			if commits == 3+i {
				if i%2 == 0 {
					ing.Stop()
				} else {
					cancel()
				}
			}
		}
		ing = newIngester(t, b, c)
		err := ing.Run(runCtx)
		cancel()
		if err != nil {
			require.ErrorIs(t, err, context.Canceled)
		}
	}

	// Killed processes, at random moments inside the group.
	b.p.SetDelay(200 * time.Microsecond)
	end := b.p.LedgerEnd()
	for i := 0; i < 5; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", childDSNEnv+"="+b.dsn, childLedgerEnv+"="+b.p.Addr(), childEndEnv+"="+strconv.FormatInt(end, 10))
		out := &syncbuf.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			require.NoError(t, err, "%s", out.String())
		case <-time.After(time.Duration(100+60*i) * time.Millisecond):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
		}
	}
	b.p.SetDelay(0)

	runToEnd(t, b, cfg)
	requireAllOnce(t, b)
	st := readState(t, b.db)
	require.Equal(t, b.p.LedgerEnd(), st.Checkpoint.Offset)
	require.Equal(t, len(treasuryTxs(b.p)), st.Ingested)
}

package ingest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// The crash test runs the ingester in a child process (this test binary,
// re-executed with childEnv set) and kills it with SIGKILL at random moments.
const (
	childEnv       = "TXHISTORY_CRASH_CHILD"
	childDSNEnv    = "TXHISTORY_CRASH_DSN"
	childLedgerEnv = "TXHISTORY_CRASH_LEDGER"
	childEndEnv    = "TXHISTORY_CRASH_END"
)

// childMain ingests up to the given end offset and exits 0, unless killed.
func childMain() int {
	db, err := sqlx.Open("postgres", os.Getenv(childDSNEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	defer db.Close()
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: os.Getenv(childLedgerEnv), Insecure: true}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	defer client.Close()
	end, _ := strconv.ParseInt(os.Getenv(childEndEnv), 10, 64)
	ing, err := ingest.New(db, client, ingest.Config{
		Parties:      []string{treasury},
		Handler:      effectsHandler,
		EndOffset:    end,
		MaxBatchSize: 50,
		MinBackoff:   5 * time.Millisecond,
		MaxBackoff:   50 * time.Millisecond,
		Logger:       quietLog,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	if err := ing.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// Crash test: SIGKILL the ingesting process at 20+ random moments while it
// ingests 10,000 transactions; after the final restart every update id is in
// the database exactly once and the checkpoint is the ledger end.
func TestCrashAtRandomMoments(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	b := setup(t)
	// The participant sends slowly enough that a run takes a few seconds,
	// so that every kill lands in the middle of ingestion.
	for i := 0; i < 10_000; i += 1000 {
		appendN(t, b.p, i, 1000)
	}
	b.p.SetDelay(300 * time.Microsecond)
	end := b.p.LedgerEnd()
	dsn := b.dsn

	run := func(killAfter time.Duration) (killed bool, err error) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", childDSNEnv+"="+dsn, childLedgerEnv+"="+b.p.Addr(), childEndEnv+"="+strconv.FormatInt(end, 10))
		out := &syncbuf.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			return false, err
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if killAfter > 0 {
			select {
			case err := <-done:
				return false, childErr(err, out)
			case <-time.After(killAfter):
				_ = cmd.Process.Signal(syscall.SIGKILL)
				err := <-done
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return true, nil
				}
				return false, childErr(err, out)
			}
		}
		return false, childErr(<-done, out)
	}

	cps, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills := 0
	var progress []int64
	for attempt := 0; kills < 20 && attempt < 60; attempt++ {
		killed, err := run(time.Duration(50+rng.IntN(200)) * time.Millisecond)
		require.NoError(t, err)
		if killed {
			kills++
			// A kill can land before the child has stored its first
			// checkpoint (a slow start on a loaded machine): -1 then.
			cp, found, err := cps.Get(context.Background(), b.db)
			require.NoError(t, err)
			if !found {
				cp.Offset = -1
			}
			progress = append(progress, cp.Offset)
		} else {
			break // finished before the kill: no more crashes possible
		}
	}
	t.Logf("killed %d times; checkpoint after each kill: %v", kills, progress)
	require.GreaterOrEqual(t, kills, 20, "the child finished too early to be killed 20 times")

	_, err = run(0)
	require.NoError(t, err)
	requireAllOnce(t, b)
	st := readState(t, b.db)
	require.Equal(t, end, st.Checkpoint.Offset)
	require.Equal(t, len(treasuryTxs(b.p)), st.Ingested)
}

func childErr(err error, out *syncbuf.Buffer) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("child failed: %v\n%s", err, out.String())
}

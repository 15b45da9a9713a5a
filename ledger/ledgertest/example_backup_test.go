package ledgertest_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
)

// The validator node restore runbook, in a unit test: the participant is
// restored from a backup older than what the exchange has ingested. It then
// serves the transactions after the backup again, recovered from the
// synchronizer with the same update ids and record times but new offsets, so
// that an exchange must recognise them by update id, not by offset (as
// ingest's dedup and the validator node restore runbook in package recovery
// do).
func ExampleParticipant_Restore() {
	const treasury = "treasury::1220ex"
	h := ledgertest.TransferHistory{Treasury: treasury}
	p, err := ledgertest.New()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	if _, err := p.Append(h.Tx(0), h.Tx(1)); err != nil {
		panic(err)
	}
	backup := p.Backup() // the nightly backup of the participant's database
	if _, err := p.Append(h.Tx(2), h.Tx(3)); err != nil {
		panic(err)
	}

	// The node is restored: streams open now would end with UNAVAILABLE
	// (retryable). WithCatchUp(true) would hold the recovery back until the
	// test calls CatchUp, as on a participant still catching up.
	p.Restore(backup)
	// Later transactions follow the recovered ones.
	if _, err := p.Append(h.Tx(4)); err != nil {
		panic(err)
	}

	ctx := context.Background()
	client, err := ledger.Dial(ledger.Config{
		LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true},
		Admin:     ledger.Endpoint{Target: p.AdminAddr(), Insecure: true},
	})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	end, err := client.LedgerEnd(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("ledger end", end, "after a backup taken at", backup.LedgerEnd())
	s, err := client.Updates(ctx, ledger.UpdatesRequest{EndInclusive: end, Filter: ledger.Filter{Parties: []string{treasury}}})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	for {
		u, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		t := u.Transaction // the fake sends no checkpoints on a bounded stream
		fmt.Printf("  %d %s at %s\n", t.Offset, t.UpdateID, t.RecordTime.UTC().Format("15:04:05.000"))
	}
	// The runbook finds where the recovered history resumes from a record
	// time, through the admin API.
	off, err := client.HighestOffsetByTimestamp(ctx, ledgertest.DefaultSynchronizer, ledgertest.DefaultStartTime.Add(2*time.Millisecond), false)
	if err != nil {
		panic(err)
	}
	fmt.Println("offset of record time 00:00:00.002:", off)
	// Output:
	// ledger end 1005 after a backup taken at 2
	//   1 upd-1 at 00:00:00.000
	//   2 upd-2 at 00:00:00.001
	//   1003 upd-3 at 00:00:00.002
	//   1004 upd-4 at 00:00:00.003
	//   1005 upd-5 at 00:00:00.004
	// offset of record time 00:00:00.002: 1003
}

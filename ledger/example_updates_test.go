package ledger_test

import (
	"context"
	"fmt"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
)

// Reading the treasury's updates: the stream delivers the transactions the
// treasury party witnesses, with their offsets, update ids and record times,
// and OffsetCheckpoints that say how far the ledger has been read even where
// the latest transactions are not the treasury's. A consumer stores the offset
// of the last item it processed and resumes after it (ingest.Ingester does
// this, with retries and a database).
func ExampleClient_Updates() {
	const treasury = "treasury::1220ex"
	// A checkpoint also comes when a stream has idled at the ledger end
	// (Canton: about a minute); a long interval keeps this output to the
	// ones that follow transactions.
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(time.Hour))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	// Two customers are minted funds and deposit to the treasury; the mints
	// (offsets 1 and 3) and a third customer's (offset 5) are not the
	// treasury's business and its stream leaves them out. The fake gives
	// record times 1ms apart from 2026-01-01T00:00:00Z.
	w := &ledgertest.TokenWorld{}
	if _, err := p.Append(
		w.Mint("alice::1220a1", "100"),
		w.Transfer(ledgertest.TransferSpec{Sender: "alice::1220a1", Receiver: treasury, Amount: "60", Reason: "acct-42"}),
		w.Mint("bob::1220b2", "50"),
		w.Transfer(ledgertest.TransferSpec{Sender: "bob::1220b2", Receiver: treasury, Amount: "12.5", Reason: "acct-7"}),
		w.Mint("carol::1220c3", "10"),
	); err != nil {
		panic(err)
	}

	ctx := context.Background()
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	end, err := client.LedgerEnd(ctx)
	if err != nil {
		panic(err)
	}
	// EndInclusive 0 tails the ledger: the stream stays open for what comes
	// next. Here it is read until an item reaches the ledger end; a
	// bounded read sets EndInclusive instead and ends with io.EOF.
	stream, err := client.Updates(ctx, ledger.UpdatesRequest{BeginExclusive: 0, Filter: ledger.Filter{Parties: []string{treasury}}})
	if err != nil {
		panic(err)
	}
	defer stream.Close()
	readUntil := func(offset int64) {
		for {
			u, err := stream.Recv()
			if err != nil {
				panic(err) // ledger.IsRetryable(err) says whether to reconnect
			}
			switch u.Kind {
			case ledger.UpdateTransaction:
				t := u.Transaction
				root := t.Events[0].(*ledger.ExercisedEvent) // node 0: the transfer's root
				fmt.Printf("transaction %d %s at %s: %s\n", t.Offset, t.UpdateID, t.RecordTime.UTC().Format(time.RFC3339Nano), root.Choice)
			case ledger.UpdateCheckpoint:
				for _, st := range u.Checkpoint.SynchronizerTimes {
					fmt.Printf("checkpoint %d: %s at %s\n", u.Checkpoint.Offset, st.SynchronizerID, st.RecordTime.UTC().Format(time.RFC3339Nano))
				}
			}
			if u.Offset() >= offset {
				return
			}
		}
	}
	readUntil(end)

	// The same stream delivers what is appended while it is open.
	if _, err := p.Append(
		w.Transfer(ledgertest.TransferSpec{Sender: "bob::1220b2", Receiver: treasury, Amount: "20", Reason: "acct-7"}),
		w.Mint("carol::1220c3", "5"),
	); err != nil {
		panic(err)
	}
	readUntil(p.LedgerEnd())
	// Output:
	// transaction 2 upd-2 at 2026-01-01T00:00:00.001Z: TransferFactory_Transfer
	// transaction 4 upd-4 at 2026-01-01T00:00:00.003Z: TransferFactory_Transfer
	// checkpoint 5: global-domain::1220aa at 2026-01-01T00:00:00.004Z
	// transaction 6 upd-6 at 2026-01-01T00:00:00.005Z: TransferFactory_Transfer
	// checkpoint 7: global-domain::1220aa at 2026-01-01T00:00:00.006Z
}

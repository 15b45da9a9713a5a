// Command fakeparticipant runs txhistory's fake Canton participant as a
// standalone gRPC server: the Ledger API v2 services (UpdateService,
// StateService) on -addr and, as on a real participant, the admin
// PartyManagementService on a port of its own (-admin-addr: point the
// runbook's -admin there), serving a built-in demo history of token
// transfers around a treasury party.
//
//	go run ./examples/fakeparticipant -addr 127.0.0.1:6865
//	go run ./examples/fakeparticipant -n 10000 -tail 500ms   # and a new transaction every 500ms
//
// Point an ingester at it, for example:
//
//	go run ./examples/quickstart -ledger 127.0.0.1:6865 -plaintext -party treasury::1220cafe
//
// It stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fakeparticipant:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		addr     = flag.String("addr", "127.0.0.1:6865", "listen address of the Ledger API (loopback)")
		admin    = flag.String("admin-addr", "127.0.0.1:6866", "listen address of the admin API (loopback), a separate endpoint as on a participant")
		treasury = flag.String("party", "treasury::1220cafe", "the treasury party of the demo history")
		n        = flag.Int("n", 1000, "transactions of the built-in demo history")
		tail     = flag.Duration("tail", 0, "if positive, append a new demo transaction every interval")
		token    = flag.String("token", "", "if set, require this bearer token on every call")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	adminLis, err := net.Listen("tcp", *admin)
	if err != nil {
		lis.Close()
		return err
	}
	opts := []ledgertest.Option{ledgertest.WithListener(lis), ledgertest.WithAdminListener(adminLis)}
	if *token != "" {
		opts = append(opts, ledgertest.WithToken(*token))
	}
	p, err := ledgertest.New(opts...)
	if err != nil {
		return err
	}
	defer p.Close()

	world := &ledgertest.TokenWorld{}
	demo := world.DemoHistory(*treasury, *n)
	if _, err := p.Append(demo.Transactions...); err != nil {
		return err
	}
	fmt.Printf("fake participant listening on %s (Ledger API) and %s (admin API)\n", p.Addr(), p.AdminAddr())
	fmt.Printf("treasury party %s; %d transactions, ledger end %d\n", *treasury, len(demo.Transactions), p.LedgerEnd())

	if *tail <= 0 {
		<-ctx.Done()
		return nil
	}
	tick := time.NewTicker(*tail)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			// Continue the same world, one transaction at a time.
			more := world.DemoHistory(*treasury, 1)
			if _, err := p.Append(more.Transactions...); err != nil {
				return err
			}
			fmt.Printf("appended %d transaction(s); ledger end %d\n", len(more.Transactions), p.LedgerEnd())
		}
	}
}

package ledgertest_test

import (
	"context"
	"fmt"
	"io"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The package documentation's usage, end to end: start a participant,
// connect over loopback gRPC, script a transaction with Append, and read it
// back as the library's client does.
func ExampleNew() {
	p, err := ledgertest.New()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	conn, err := grpc.NewClient(p.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	// The admin API has a listener of its own, as on a participant.
	adminConn, err := grpc.NewClient(p.AdminAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer adminConn.Close()

	created := &ledger.CreatedEvent{
		ContractID:      "00c1",
		TemplateID:      ledger.MustParseIdentifier("#my-package:My.Module:Thing"),
		PackageName:     "my-package",
		CreateArguments: ledger.Record(nil, ledger.F("owner", ledger.Party("alice::1220a1"))),
		WitnessParties:  []string{"alice::1220a1"}, // a party filter selects what its party witnesses
		Signatories:     []string{"alice::1220a1"},
	}
	txs, err := p.Append(&ledger.Transaction{Events: []ledger.Event{created}})
	if err != nil {
		panic(err)
	}
	fmt.Println("appended:", txs[0].Offset, txs[0].UpdateID)

	ctx := context.Background()
	client := ledger.NewClient(conn, adminConn)
	end, err := client.LedgerEnd(ctx)
	if err != nil {
		panic(err)
	}
	stream, err := client.Updates(ctx, ledger.UpdatesRequest{EndInclusive: end, Filter: ledger.Filter{Parties: []string{"alice::1220a1"}}})
	if err != nil {
		panic(err)
	}
	defer stream.Close()
	for {
		u, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		fmt.Println("received:", u.Offset(), u.Transaction.UpdateID, u.Transaction.Events[0].Contract())
	}
	off, err := client.HighestOffsetByTimestamp(ctx, ledgertest.DefaultSynchronizer, txs[0].RecordTime, false)
	if err != nil {
		panic(err)
	}
	fmt.Println("offset at its record time:", off)
	// Output:
	// appended: 1 upd-1
	// received: 1 upd-1 00c1
	// offset at its record time: 1
}

// An exchange's own interceptor on the fake's servers, as on its gateway in
// front of a participant: it sees each call before the fake handles it.
func ExampleWithServerOptions() {
	logMethods := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		fmt.Println("intercepted:", info.FullMethod)
		return handler(ctx, req)
	}
	p, err := ledgertest.New(ledgertest.WithServerOptions(grpc.ChainUnaryInterceptor(logMethods)))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	end, err := client.LedgerEnd(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println("ledger end:", end)
	// Output:
	// intercepted: /com.daml.ledger.api.v2.StateService/GetLedgerEnd
	// ledger end: 0
}

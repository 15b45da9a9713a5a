package ledger_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"google.golang.org/grpc/codes"
)

// Telling the failures a retry can fix from those it cannot. A participant
// that is unavailable for a moment, or asked for an offset it has not reached
// yet, is retried after a backoff; a refused token or a pruned offset is
// reported to an operator, since repeating the call repeats the refusal.
func ExampleIsRetryable() {
	// A participant that requires a token and has pruned its first two
	// offsets.
	p, err := ledgertest.New(ledgertest.WithToken("valid"))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	h := ledgertest.TransferHistory{Treasury: "treasury::1220ex"}
	if _, err := p.Append(h.Tx(0), h.Tx(1), h.Tx(2)); err != nil {
		panic(err)
	}
	if err := p.Prune(2); err != nil {
		panic(err)
	}
	dial := func(token string) *ledger.Client {
		c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true, Tokens: ledger.StaticToken(token)}})
		if err != nil {
			panic(err)
		}
		return c
	}
	client, stranger := dial("valid"), dial("stolen")
	defer client.Close()
	defer stranger.Close()

	ctx := context.Background()
	show := func(what string, err error) {
		var apiErr *ledger.APIError
		errors.As(err, &apiErr)
		fmt.Printf("%-24s %-19s retryable=%-5v auth=%v\n", what+":", apiErr.Code, ledger.IsRetryable(err), ledger.IsAuth(err))
	}
	// A stream's errors, also those of its opening, come from Recv.
	firstRecv := func(begin int64) error {
		s, err := client.Updates(ctx, ledger.UpdatesRequest{BeginExclusive: begin, Filter: ledger.Filter{Parties: []string{h.Treasury}}})
		if err != nil {
			return err
		}
		defer s.Close()
		_, err = s.Recv()
		return err
	}

	p.FailNext("GetLedgerEnd", 1, codes.Unavailable) // a participant restarting
	_, err = client.LedgerEnd(ctx)
	show("participant restarting", err)

	err = firstRecv(10)
	show("offset beyond its end", err)
	fmt.Println("  errors.Is ErrOffsetAfterLedgerEnd:", errors.Is(err, ledger.ErrOffsetAfterLedgerEnd))

	_, err = stranger.LedgerEnd(ctx)
	show("token refused", err)
	fmt.Println("  errors.Is ErrUnauthenticated:", errors.Is(err, ledger.ErrUnauthenticated))

	err = firstRecv(0)
	show("offset pruned", err)
	// A pruned begin offset names where reading can resume, if the exchange
	// accepts the gap (or restores its history from elsewhere).
	var pruned *ledger.PrunedError
	if errors.As(err, &pruned) {
		fmt.Println("  earliest offset to read from:", pruned.EarliestOffset)
	}
	// Output:
	// participant restarting:  Unavailable         retryable=true  auth=false
	// offset beyond its end:   OutOfRange          retryable=true  auth=false
	//   errors.Is ErrOffsetAfterLedgerEnd: true
	// token refused:           Unauthenticated     retryable=false auth=true
	//   errors.Is ErrUnauthenticated: true
	// offset pruned:           FailedPrecondition  retryable=false auth=false
	//   earliest offset to read from: 2
}

package ledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// A filter of many parties (an exchange with a party per customer) makes a
// request bigger than the participant takes. A grpc-go participant refuses
// it with the words of the client's own refusal of a big message
// ("received message larger than max"): the error must not send the
// operator to raise the client's MaxRecvMsgSize, which cannot help, but
// say the participant refused the request and what it held.
func TestRV116OversizedRequestIsNotTheClientsLimit(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Append(memoTx("00c1", "small"))
	require.NoError(t, err)
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	defer c.Close()
	f := manyParties()

	s, err := c.Updates(context.Background(), ledger.UpdatesRequest{EndInclusive: 1, Filter: f})
	require.NoError(t, err)
	_, err = s.Recv()
	require.Error(t, err)
	t.Logf("Updates: %v", err)
	requireRequestRefused(t, err)

	_, err = c.UpdateByID(context.Background(), p.Transactions()[0].UpdateID, f)
	require.Error(t, err)
	t.Logf("UpdateByID: %v", err)
	requireRequestRefused(t, err)
}

func requireRequestRefused(t *testing.T, err error) {
	t.Helper()
	require.NotContains(t, err.Error(), "MaxRecvMsgSize", "the error sends the operator to the client's limit")
	require.NotContains(t, err.Error(), "larger than the client takes")
	require.ErrorContains(t, err, "the participant refused the request")
	require.ErrorContains(t, err, "20000 parties")
	require.False(t, ledger.IsRetryable(err), "the same request is refused again")
}

// manyParties is a filter of the treasury and 19,999 customers with
// Canton-length ids: a request bigger than a participant takes.
func manyParties() ledger.Filter {
	parties := []string{treasury}
	for i := 1; i < 20_000; i++ {
		parties = append(parties, ledgertest.CantonID(fmt.Sprintf("customer-%06d", i), fmt.Sprint(i)))
	}
	return ledger.Filter{Parties: parties}
}

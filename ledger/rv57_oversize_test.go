package ledger_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

// memoTx is a treasury transaction of one contract carrying memo.
func memoTx(cid, memo string) *ledger.Transaction {
	return &ledger.Transaction{Events: []ledger.Event{&ledger.CreatedEvent{
		ContractID: cid, TemplateID: ledger.MustParseIdentifier("#pkg:Mod:T"),
		CreateArguments: ledger.Record(nil, ledger.F("memo", ledger.Text(memo))),
		WitnessParties:  []string{treasury}, Signatories: []string{treasury}}}}
}

// A transaction bigger than the client's MaxRecvMsgSize stops ingestion
// until the limit is raised: the error must say which setting that is,
// and where in the stream the message came, not only gRPC's "received
// message larger than max", which reads like a refusal by the participant
// (RESOURCE_EXHAUSTED is also its backpressure code).
func TestOversizedMessageNamesTheLimitAndOffset(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Append(memoTx("00c1", "small"), memoTx("00c2", strings.Repeat("x", 4096)))
	require.NoError(t, err)
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}, MaxRecvMsgSize: 1024})
	require.NoError(t, err)
	defer c.Close()
	s, err := c.Updates(context.Background(), ledger.UpdatesRequest{EndInclusive: 2, Filter: ledger.Filter{Parties: []string{treasury}}})
	require.NoError(t, err)
	u, err := s.Recv()
	require.NoError(t, err)
	require.Equal(t, int64(1), u.Offset())
	_, err = s.Recv()
	require.ErrorIs(t, err, ledger.ErrMessageRejected)
	t.Logf("%v", err)
	require.ErrorContains(t, err, "ledger.Config.MaxRecvMsgSize", "the error does not say which setting to raise")
	require.ErrorContains(t, err, "after offset 1", "the error does not say where in the stream the message came")
}

// A client made by NewClient on a connection of the caller's receives
// what that connection allows: gRPC's default of 4 MiB unless the caller
// set another, not DefaultMaxRecvMsgSize. A treasury's batch payout of a
// thousand transfers in one transaction (6 MB) then stops ingestion, and
// the error must name what to set on that connection, not the
// ledger.Config that this client does not have.
func TestNewClientOversizedMessageNamesTheConnectionLimit(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	w := &ledgertest.TokenWorld{CantonIDs: true}
	_, err = p.Append(w.Mint(treasury, "100000"))
	require.NoError(t, err)
	var ops []ledgertest.TokenOp
	for i := range 1000 {
		ops = append(ops, w.TransferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: fmt.Sprintf("user%d::1220aa", i),
			Amount: "1.5", Reason: fmt.Sprintf("wd-%d", i)}))
	}
	payout := w.Tx(ops...)
	require.Greater(t, proto.Size(payout.Proto()), 4<<20)
	_, err = p.Append(payout)
	require.NoError(t, err)

	conn, err := grpc.NewClient(p.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	c := ledger.NewClient(conn, nil)
	s, err := c.Updates(context.Background(), ledger.UpdatesRequest{EndInclusive: 2, Filter: ledger.Filter{Parties: []string{treasury}}})
	require.NoError(t, err)
	_, err = s.Recv()
	require.NoError(t, err)
	_, err = s.Recv()
	require.ErrorIs(t, err, ledger.ErrMessageRejected)
	t.Logf("%v", err)
	require.ErrorContains(t, err, "grpc.MaxCallRecvMsgSize", "the error does not name the connection's limit")
	require.NotContains(t, err.Error(), "ledger.Config.MaxRecvMsgSize", "the error names a setting this client does not have")
}

// The same refusal on GetUpdateById (the restore runbook's look-up of the
// last ingested update, a Handler's read) names the setting and the update.
func TestOversizedUpdateByIDNamesTheLimitAndUpdate(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	added, err := p.Append(memoTx("00c2", strings.Repeat("x", 4096)))
	require.NoError(t, err)
	big := added[0]
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}, MaxRecvMsgSize: 1024})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.UpdateByID(context.Background(), big.UpdateID, ledger.Filter{Parties: []string{treasury}})
	require.ErrorIs(t, err, ledger.ErrMessageRejected)
	t.Logf("%v", err)
	require.ErrorContains(t, err, "ledger.Config.MaxRecvMsgSize", "the error does not say which setting to raise")
	require.ErrorContains(t, err, "update "+big.UpdateID, "the error does not name the update")
}

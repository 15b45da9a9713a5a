package ingest_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// scriptedServer streams the transactions of txs after the request's begin
// offset, then ends the stream (status OK); its ledger end is the last one's.
type scriptedServer struct {
	lapiv2.UnimplementedUpdateServiceServer
	lapiv2.UnimplementedStateServiceServer
	txs []*lapiv2.Transaction
}

func (s *scriptedServer) GetLedgerEnd(context.Context, *lapiv2.GetLedgerEndRequest) (*lapiv2.GetLedgerEndResponse, error) {
	return &lapiv2.GetLedgerEndResponse{Offset: s.txs[len(s.txs)-1].GetOffset()}, nil
}

func (s *scriptedServer) GetUpdates(r *lapiv2.GetUpdatesRequest, st grpc.ServerStreamingServer[lapiv2.GetUpdatesResponse]) error {
	for _, tx := range s.txs {
		if tx.GetOffset() <= r.GetBeginExclusive() {
			continue
		}
		if err := st.Send(&lapiv2.GetUpdatesResponse{Update: &lapiv2.GetUpdatesResponse_Transaction{Transaction: tx}}); err != nil {
			return err
		}
	}
	return nil
}

// A transaction without a synchronizer id is malformed like one without a
// record time: PoisonSetAside sets it aside and goes on.
func TestTransactionWithoutSynchronizerIsSetAside(t *testing.T) {
	bad, good := simpleTx(treasury, 1), simpleTx(treasury, 2)
	bad.Offset, bad.UpdateID, bad.SynchronizerID = 1, "upd-bad", ""
	good.Offset, good.UpdateID, good.SynchronizerID = 2, "upd-good", "sync::1"
	bad.RecordTime = time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	good.RecordTime = bad.RecordTime.Add(time.Second)
	b := scriptedBundle(t, []*lapiv2.Transaction{bad.Proto(), good.Proto()})
	db := b.db

	ing := newIngester(t, b, ingest.Config{Poison: ingest.PoisonSetAside, EndOffset: 2,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxAttempts: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, ing.Run(ctx))
	var applied, setAside []string
	require.NoError(t, db.Select(&applied, `SELECT update_id FROM effects`))
	require.NoError(t, db.Select(&setAside, `SELECT update_id || ': ' || error FROM txhistory.review_transaction`))
	require.Equal(t, []string{"upd-good"}, applied)
	require.Len(t, setAside, 1)
	require.Contains(t, setAside[0], "upd-bad: ")
	require.Contains(t, setAside[0], "no synchronizer id")
}

// ledgerServer is a stand-in participant's Update and State services.
type ledgerServer interface {
	lapiv2.UpdateServiceServer
	lapiv2.StateServiceServer
}

// serveLedger serves s over loopback gRPC until the test ends and returns
// its listener (lis.Addr() to dial).
func serveLedger(t *testing.T, s ledgerServer) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	lapiv2.RegisterUpdateServiceServer(srv, s)
	lapiv2.RegisterStateServiceServer(srv, s)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis
}

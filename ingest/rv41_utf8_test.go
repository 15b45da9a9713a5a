package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// rawFrame is a message a rawCodec sends as it is: bytes that the proto
// codec would refuse to marshal.
type rawFrame []byte

type rawCodec struct{ encoding.CodecV2 }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(rawFrame); ok {
		return mem.BufferSlice{mem.SliceBuffer(r)}, nil
	}
	return c.CodecV2.Marshal(v)
}

// rawTxServer streams GetUpdatesResponse messages as bytes, those of
// transactions after the request's begin offset.
type rawTxServer struct {
	lapiv2.UnimplementedUpdateServiceServer
	lapiv2.UnimplementedStateServiceServer
	frames [][]byte
	txs    []*lapiv2.Transaction
}

func (s *rawTxServer) GetLedgerEnd(context.Context, *lapiv2.GetLedgerEndRequest) (*lapiv2.GetLedgerEndResponse, error) {
	return &lapiv2.GetLedgerEndResponse{Offset: s.txs[len(s.txs)-1].GetOffset()}, nil
}

func (s *rawTxServer) GetUpdates(r *lapiv2.GetUpdatesRequest, st grpc.ServerStreamingServer[lapiv2.GetUpdatesResponse]) error {
	for i, f := range s.frames {
		if s.txs[i].GetOffset() <= r.GetBeginExclusive() {
			continue
		}
		if err := st.SendMsg(rawFrame(f)); err != nil {
			return err
		}
	}
	return nil
}

func (s *rawTxServer) GetUpdateById(_ context.Context, r *lapiv2.GetUpdateByIdRequest) (*lapiv2.GetUpdateResponse, error) {
	for _, tx := range s.txs {
		if tx.GetUpdateId() == r.GetUpdateId() {
			return &lapiv2.GetUpdateResponse{Update: &lapiv2.GetUpdateResponse_Transaction{Transaction: tx}}, nil
		}
	}
	return nil, fmt.Errorf("no update %s", r.GetUpdateId())
}

// A participant sends, among 40 transactions, u30 at offset 30 with a text
// that is not UTF-8 (the proto codec refuses it: it cannot reach
// PostgreSQL). It is a malformed transaction: under PoisonHalt Run stops
// with a *ledger.DecodeError naming its offset and update id, everything
// before it committed; under PoisonSetAside it is set aside and the rest
// ingested. Before, the stream ended with ErrMessageRejected naming the
// offset the stream began at, and PoisonSetAside stopped there too.
func TestRV41InvalidUTF8TransactionIsMalformed(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &rawTxServer{}
	for i := 1; i <= 40; i++ {
		tx := simpleTx(treasury, i)
		tx.Offset, tx.UpdateID, tx.SynchronizerID, tx.RecordTime = int64(i), fmt.Sprintf("u%d", i), "sync::1", t0.Add(time.Duration(i)*time.Second)
		if i == 30 {
			tx.CommandID = "ZZcmd"
		}
		b, err := proto.Marshal(&lapiv2.GetUpdatesResponse{Update: &lapiv2.GetUpdatesResponse_Transaction{Transaction: tx.Proto()}})
		require.NoError(t, err)
		if i == 30 {
			b = bytes.Replace(b, []byte("ZZ"), []byte{0xff, 0xfe}, 1)
		}
		s.frames = append(s.frames, b)
		s.txs = append(s.txs, tx.Proto())
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.ForceServerCodecV2(rawCodec{encoding.GetCodecV2("proto")}))
	lapiv2.RegisterUpdateServiceServer(srv, s)
	lapiv2.RegisterStateServiceServer(srv, s)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	db, dsn := newEffectsDB(t)
	b := &testBundle{db: db, dsn: dsn, client: dial(t, lis.Addr().String(), nil)}
	run := func(policy ingest.PoisonPolicy) error {
		ing := newIngester(t, b, ingest.Config{Poison: policy, EndOffset: 40, MaxBatchSize: 5,
			MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxAttempts: 3})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return ing.Run(ctx)
	}
	applied := func() []string {
		var out []string
		require.NoError(t, db.Select(&out, `SELECT update_id FROM effects ORDER BY ledger_offset`))
		return out
	}
	var want []string
	for i := 1; i < 30; i++ {
		want = append(want, fmt.Sprintf("u%d", i))
	}

	err = run(ingest.PoisonHalt)
	require.Error(t, err)
	var de *ledger.DecodeError
	require.True(t, errors.As(err, &de), "error %v is not a *ledger.DecodeError", err)
	require.Equal(t, int64(30), de.Offset, "%v", err)
	require.Equal(t, "u30", de.UpdateID, "%v", err)
	require.ErrorContains(t, err, "u30")
	require.Equal(t, int64(29), readState(t, db).Checkpoint.Offset)
	require.Equal(t, want, applied())

	require.NoError(t, run(ingest.PoisonSetAside))
	require.Equal(t, int64(40), readState(t, db).Checkpoint.Offset)
	for i := 31; i <= 40; i++ {
		want = append(want, fmt.Sprintf("u%d", i))
	}
	require.Equal(t, want, applied())
	var aside []string
	require.NoError(t, db.Select(&aside, `SELECT update_id FROM txhistory.review_transaction WHERE raw IS NOT NULL`))
	require.Equal(t, []string{"u30"}, aside)
}

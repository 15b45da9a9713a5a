package ledger_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	pb "github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// A record time beyond Daml's years 1 to 9999, which PostgreSQL cannot
// store either, is refused by the stream's decoder, fast path and reference
// path alike: a transaction's as a *DecodeError naming it, with its raw
// item for a review table; an offset checkpoint's naming its offset.
func TestRV41RecordTimeOutsideDamlsRange(t *testing.T) {
	far := timestamppb.New(time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC))
	tx := &pb.Transaction{UpdateId: "upd-far", Offset: 7, SynchronizerId: "sync::1", RecordTime: far, EffectiveAt: far}
	b, err := proto.Marshal(&pb.GetUpdatesResponse{Update: &pb.GetUpdatesResponse_Transaction{Transaction: tx}})
	require.NoError(t, err)
	_, uerr, err, _ := ledger.DecodeWire(b)
	require.NoError(t, uerr)
	var de *ledger.DecodeError
	require.True(t, errors.As(err, &de), "decoding a transaction of year 300000: %v", err)
	require.Equal(t, int64(7), de.Offset)
	require.Equal(t, "upd-far", de.UpdateID)
	require.ErrorContains(t, err, "record time")
	require.NotEmpty(t, de.Raw, "the raw transaction, for the review table")

	cp := &pb.OffsetCheckpoint{Offset: 8, SynchronizerTimes: []*pb.SynchronizerTime{{SynchronizerId: "sync::1", RecordTime: far}}}
	b, err = proto.Marshal(&pb.GetUpdatesResponse{Update: &pb.GetUpdatesResponse_OffsetCheckpoint{OffsetCheckpoint: cp}})
	require.NoError(t, err)
	_, uerr, err, _ = ledger.DecodeWire(b)
	require.NoError(t, uerr)
	require.ErrorContains(t, err, "offset checkpoint at offset 8 has a record time")
}

package ledger_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	pb "github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// A synchronizer id PostgreSQL text cannot hold (a NUL byte) is keyed in
// the checkpoint's synchronizer_time and the review table: decoding must
// refuse it, a transaction's as a settable DecodeError naming its offset
// and update id, on both the fast and the reference path.
func TestSecSynchronizerIDWithNULRejected(t *testing.T) {
	for name, id := range map[string]string{
		"NUL":     "sync::\x00x",
		"control": "sync::\x01x",
		"long":    strings.Repeat("s", ledger.MaxUpdateIDLength+1),
	} {
		t.Run(name, func(t *testing.T) {
			tx := ledger.Transaction{UpdateID: "u1", Offset: 5, RecordTime: time.Unix(100, 0).UTC(), SynchronizerID: id}
			b := marshal(t, txResponse(&tx))
			requireSame(t, b)
			_, _, err, _ := ledger.DecodeWire(b)
			var de *ledger.DecodeError
			require.True(t, errors.As(err, &de), "want a *ledger.DecodeError, got %v", err)
			require.Equal(t, int64(5), de.Offset)
			require.Equal(t, "u1", de.UpdateID)
			require.NotNil(t, de.Raw)

			cp := marshal(t, &pb.GetUpdatesResponse{Update: &pb.GetUpdatesResponse_OffsetCheckpoint{
				OffsetCheckpoint: &pb.OffsetCheckpoint{Offset: 3, SynchronizerTimes: []*pb.SynchronizerTime{{SynchronizerId: id, RecordTime: timestamppb.Now()}}}}})
			requireSame(t, cp)
			_, _, err, _ = ledger.DecodeWire(cp)
			require.Error(t, err)
			require.Contains(t, err.Error(), "offset 3")
		})
	}
}

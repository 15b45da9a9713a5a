package ledger_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// Each row of the reference's error table, over the real gRPC stack: the
// fake participant answers it (by its own rules where it has them, else
// by an injected Canton-shaped status), and the client's error matches
// the right sentinel, is retryable or not as the reference says, and is an
// authentication failure only for the auth rows.
func TestReferenceErrorTableOverLoopback(t *testing.T) {
	ctx := context.Background()
	p, err := ledgertest.New(ledgertest.WithSeparateAdmin(), ledgertest.WithCheckpointInterval(time.Hour))
	require.NoError(t, err)
	defer p.Close()
	for range 5 {
		_, err := p.Append(holdingTx(treasury, "1"))
		require.NoError(t, err)
	}
	c := newClient(t, p)
	filter := ledger.Filter{Parties: []string{treasury}}
	first := func(t *testing.T, r ledger.UpdatesRequest) error {
		t.Helper()
		r.Filter = filter
		s, err := c.Updates(ctx, r)
		require.NoError(t, err)
		defer s.Close()
		for {
			if _, err := s.Recv(); err != nil {
				return err
			}
		}
	}
	inject := func(t *testing.T, method string, code codes.Code, id string, md map[string]string) {
		p.Intercept(method, func(context.Context, proto.Message) error { return ledgertest.StatusError(code, id, "cause", md) })
		t.Cleanup(func() { p.Intercept(method, nil) })
	}
	lookup := func(force bool) error {
		_, err := c.HighestOffsetByTimestamp(ctx, ledgertest.DefaultSynchronizer, p.ProcessedRecordTime("").Add(time.Hour), force)
		return err
	}

	type row struct {
		name      string
		err       func(t *testing.T) error
		sentinel  error
		retryable bool
		auth      bool
	}
	rows := []row{
		{"begin_exclusive beyond the ledger end: OUT_OF_RANGE OFFSET_AFTER_LEDGER_END", func(t *testing.T) error {
			return first(t, ledger.UpdatesRequest{BeginExclusive: 6})
		}, ledger.ErrOffsetAfterLedgerEnd, true, false},
		{"begin after end: FAILED_PRECONDITION OFFSET_OUT_OF_RANGE", func(t *testing.T) error {
			return first(t, ledger.UpdatesRequest{BeginExclusive: 4, EndInclusive: 3})
		}, ledger.ErrOffsetOutOfRange, false, false},
		{"admin look-up of a time not processed yet (3.5+): FAILED_PRECONDITION UNPROCESSED_REQUESTED_TIMESTAMP", func(t *testing.T) error {
			return lookup(false)
		}, ledger.ErrUnprocessedTimestamp, false, false},
		{"admin look-up without force, no exact record time (3.5+): NOT_FOUND EXACT_RECORD_TIME_MATCH_NOT_FOUND", func(t *testing.T) error {
			_, err := c.HighestOffsetByTimestamp(ctx, ledgertest.DefaultSynchronizer, p.ProcessedRecordTime("").Add(-time.Microsecond), false)
			return err
		}, ledger.ErrNoExactRecordTime, false, false},
		{"admin look-up, any failure (3.4): OUT_OF_RANGE INVALID_TIMESTAMP_PARTY_MANAGEMENT_ERROR", func(t *testing.T) error {
			p.SetAdminBehaviour(ledgertest.AdminV34)
			defer p.SetAdminBehaviour(ledgertest.AdminV35)
			return lookup(false)
		}, ledger.ErrInvalidTimestamp, false, false},
		{"a wrong token: UNAUTHENTICATED", func(t *testing.T) error {
			p.SetToken("right")
			defer p.SetToken("")
			return first(t, ledger.UpdatesRequest{})
		}, ledger.ErrUnauthenticated, false, true},
		{"missing rights: PERMISSION_DENIED", func(t *testing.T) error {
			inject(t, ledgertest.MethodGetUpdates, codes.PermissionDenied, "PERMISSION_DENIED", nil)
			return first(t, ledger.UpdatesRequest{})
		}, ledger.ErrPermissionDenied, false, true},
		{"the stream's token expired: ABORTED ACCESS_TOKEN_EXPIRED", func(t *testing.T) error {
			s, err := c.Updates(ctx, ledger.UpdatesRequest{Filter: filter})
			require.NoError(t, err)
			defer s.Close()
			for range 5 {
				_, err := s.Recv()
				require.NoError(t, err)
			}
			p.ExpireTokenOnStreams()
			_, err = s.Recv()
			return err
		}, ledger.ErrTokenExpired, true, false},
		{"rights changed while streaming: ABORTED STALE_STREAM_AUTHORIZATION", func(t *testing.T) error {
			inject(t, ledgertest.MethodGetUpdates, codes.Aborted, ledger.IDStaleStreamAuthorization, nil)
			return first(t, ledger.UpdatesRequest{})
		}, nil, true, false},
		{"pruning ran while a stream was open: stream aborted", func(t *testing.T) error {
			p.SetDelay(50 * time.Millisecond)
			defer p.SetDelay(0)
			s, err := c.Updates(ctx, ledger.UpdatesRequest{EndInclusive: 5, Filter: filter})
			require.NoError(t, err)
			defer s.Close()
			_, err = s.Recv()
			require.NoError(t, err)
			require.NoError(t, p.Prune(1))
			for {
				if _, err := s.Recv(); err != nil {
					return err
				}
			}
		}, nil, true, false},
		{"begin_exclusive below the pruning offset: FAILED_PRECONDITION PARTICIPANT_PRUNED_DATA_ACCESSED", func(t *testing.T) error {
			require.NoError(t, p.Prune(2))
			return first(t, ledger.UpdatesRequest{BeginExclusive: 1})
		}, ledger.ErrPruned, false, false},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			err := r.err(t)
			require.Error(t, err)
			require.NotErrorIs(t, err, io.EOF)
			if r.sentinel != nil {
				require.ErrorIs(t, err, r.sentinel)
			}
			require.Equal(t, r.retryable, ledger.IsRetryable(err), "IsRetryable: %v", err)
			require.Equal(t, r.auth, ledger.IsAuth(err), "IsAuth: %v", err)
		})
	}

	// The pruned row names the earliest begin offset that can still be read.
	err = first(t, ledger.UpdatesRequest{BeginExclusive: 1})
	var pe *ledger.PrunedError
	require.True(t, errors.As(err, &pe), "%v", err)
	require.Equal(t, int64(2), pe.EarliestOffset)
	require.Equal(t, int64(1), pe.Requested)
}

package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func cantonStatus(t *testing.T, code codes.Code, id string, md map[string]string) error {
	st := status.New(code, id+"(9,0a1b2c3d): something happened")
	st, err := st.WithDetails(&errdetails.ErrorInfo{Reason: id, Metadata: md})
	require.NoError(t, err)
	return st.Err()
}

func TestMapErrorMatchesSentinels(t *testing.T) {
	cases := []struct {
		code      codes.Code
		id        string
		sentinel  error
		retryable bool
	}{
		{codes.OutOfRange, IDOffsetAfterLedgerEnd, ErrOffsetAfterLedgerEnd, true},
		{codes.FailedPrecondition, IDOffsetOutOfRange, ErrOffsetOutOfRange, false},
		{codes.FailedPrecondition, IDUnprocessedRequestedTimestamp, ErrUnprocessedTimestamp, false},
		{codes.NotFound, IDExactRecordTimeMatchNotFound, ErrNoExactRecordTime, false},
		{codes.OutOfRange, IDInvalidTimestamp, ErrInvalidTimestamp, false},
		{codes.Aborted, IDAccessTokenExpired, ErrTokenExpired, true},
		{codes.Unauthenticated, "", ErrUnauthenticated, false},
		{codes.PermissionDenied, "", ErrPermissionDenied, false},
		{codes.NotFound, "UPDATE_NOT_FOUND", ErrNotFound, false},
	}
	for _, c := range cases {
		t.Run(c.sentinel.Error(), func(t *testing.T) {
			err := mapError("Op", cantonStatus(t, c.code, c.id, nil))
			require.ErrorIs(t, err, c.sentinel)
			require.Equal(t, c.retryable, IsRetryable(err))
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, c.code, ae.Code)
			require.Equal(t, c.id, ae.ErrorID)
		})
	}
}

// A refused TLS handshake is told apart from other unavailability by the
// status message, the only place gRPC puts the reason.
func TestTLSRefusalFromMessage(t *testing.T) {
	const (
		verify  = `connection error: desc = "transport: authentication handshake failed: `
		preface = `connection error: desc = "error reading server preface: `
	)
	cases := []struct {
		msg     string
		refused bool
	}{
		{verify + `tls: failed to verify certificate: x509: certificate has expired or is not yet valid"`, true},
		{preface + `remote error: tls: bad certificate"`, true},
		{preface + `remote error: tls: unknown certificate"`, true},
		{verify + `remote error: tls: handshake failure"`, true},
		// Cut short or not a handshake at all: retried as unavailability.
		{verify + `EOF"`, false},
		{verify + `read tcp 127.0.0.1:5->127.0.0.1:6: read: connection reset by peer"`, false},
		{preface + `remote error: tls: internal error"`, false},
		{`connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`, false},
	}
	for _, c := range cases {
		err := mapError("GetUpdates", status.Error(codes.Unavailable, c.msg))
		require.Equal(t, c.refused, errors.Is(err, ErrTLS), c.msg)
		require.Equal(t, !c.refused, IsRetryable(err), c.msg)
		require.Equal(t, c.refused, IsAuth(err), c.msg)
		if c.refused {
			require.ErrorContains(t, err, "ledger: GetUpdates: TLS handshake refused (Unavailable): "+c.msg)
		}
	}
	// The same words under another code are not a handshake.
	err := mapError("GetUpdates", status.Error(codes.InvalidArgument, "x509: in a field value"))
	require.NotErrorIs(t, err, ErrTLS)
}

func TestErrorIDFromMessageWithoutDetails(t *testing.T) {
	err := mapError("GetUpdates", status.Error(codes.OutOfRange, "OFFSET_AFTER_LEDGER_END(12,abcd): begin is after end"))
	require.ErrorIs(t, err, ErrOffsetAfterLedgerEnd)
	require.Equal(t, "", errorIDFromMessage("plain message: no id"))
	require.Equal(t, "X_Y", errorIDFromMessage("X_Y: cause"))
}

func TestPrunedErrorNamesEarliestOffset(t *testing.T) {
	err := streamErr(nil, 7, cantonStatus(t, codes.FailedPrecondition, IDParticipantPrunedDataAccessed, map[string]string{"earliest_offset": "120"}))
	var pe *PrunedError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, int64(120), pe.EarliestOffset)
	require.Equal(t, int64(7), pe.Requested)
	require.ErrorIs(t, err, ErrPruned)
	require.False(t, IsRetryable(err))
	require.Contains(t, err.Error(), "earliest available begin offset is 120")
}

func TestRetryability(t *testing.T) {
	require.True(t, IsRetryable(mapError("x", status.Error(codes.Unavailable, "connection refused"))))
	require.True(t, IsRetryable(mapError("x", io.ErrUnexpectedEOF)))
	require.True(t, IsRetryable(mapError("x", status.Error(codes.Internal, "stream terminated by RST_STREAM"))))
	require.False(t, IsRetryable(mapError("x", status.Error(codes.Unimplemented, "no"))))
	require.False(t, IsRetryable(mapError("x", status.Error(codes.InvalidArgument, "no"))))
	require.False(t, IsRetryable(nil))
	require.False(t, IsRetryable(errors.New("plain")))
	require.ErrorIs(t, mapError("x", context.Canceled), context.Canceled)
	require.False(t, IsRetryable(fmt.Errorf("wrapped: %w", mapError("x", status.Error(codes.Unauthenticated, "bad token")))))
}

// A message the client cannot unmarshal comes again on every retry.
func TestUnmarshalFailureIsNotRetryable(t *testing.T) {
	err := mapError("GetUpdates", status.Error(codes.Internal, "grpc: failed to unmarshal the received message: proto: invalid UTF-8"))
	require.ErrorIs(t, err, ErrMessageRejected)
	require.False(t, IsRetryable(err))
	// A broken HTTP/2 stream, also INTERNAL without an error id, still is.
	require.True(t, IsRetryable(mapError("GetUpdates", status.Error(codes.Internal, "stream terminated by RST_STREAM with error code: INTERNAL_ERROR"))))
	// Canton's own back-pressure is RESOURCE_EXHAUSTED with an error id.
	require.True(t, IsRetryable(mapError("GetUpdates", status.Error(codes.ResourceExhausted, "PARTICIPANT_BACKPRESSURE(2,abc): too many requests"))))
}

// UNKNOWN without an error id (a proxy's HTTP 500 as grpc-go maps it, or
// Canton's redacted MaliciousOrFaultyBehaviour) is retried like INTERNAL
// without one; with a Canton error id it is the participant's answer.
func TestUnknownRetryability(t *testing.T) {
	require.True(t, IsRetryable(mapError("GetUpdates", status.Error(codes.Unknown, "unexpected HTTP status code received from server: 500 (Internal Server Error); transport: received unexpected content-type \"text/html\""))))
	require.True(t, IsRetryable(mapError("GetUpdates", status.Error(codes.Unknown, "An error occurred. Please contact the operator and inquire about the request abc with tid 0123456789abcdef"))))
	require.False(t, IsRetryable(mapError("GetUpdates", status.Error(codes.Unknown, "SOME_CANTON_ERROR(5,abc): refused"))))
}

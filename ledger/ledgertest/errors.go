package ledgertest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Error ids the fake participant answers with. They are the ids a real
// participant puts in front of its error messages and in the Reason of the
// google.rpc.ErrorInfo detail.
const (
	// ErrorIDOffsetAfterLedgerEnd: begin_exclusive or end_inclusive is beyond
	// the ledger end (OUT_OF_RANGE; retry after waiting).
	ErrorIDOffsetAfterLedgerEnd = "OFFSET_AFTER_LEDGER_END"
	// ErrorIDPrunedDataAccessed: begin_exclusive is below the pruning offset
	// (FAILED_PRECONDITION). The ErrorInfo carries MetadataEarliestOffset.
	ErrorIDPrunedDataAccessed = "PARTICIPANT_PRUNED_DATA_ACCESSED"
	// ErrorIDOffsetOutOfRange: end_inclusive is before begin_exclusive
	// (FAILED_PRECONDITION).
	ErrorIDOffsetOutOfRange = "OFFSET_OUT_OF_RANGE"
	// ErrorIDNegativeOffset: begin_exclusive is negative (INVALID_ARGUMENT).
	ErrorIDNegativeOffset = "NEGATIVE_OFFSET"
	// ErrorIDNonPositiveOffset: end_inclusive is zero or negative (INVALID_ARGUMENT).
	ErrorIDNonPositiveOffset = "NON_POSITIVE_OFFSET"
	// ErrorIDMissingField: a required request field is unset (INVALID_ARGUMENT).
	ErrorIDMissingField = "MISSING_FIELD"
	// ErrorIDInvalidArgument: a request field has an unusable value (INVALID_ARGUMENT).
	ErrorIDInvalidArgument = "INVALID_ARGUMENT"
	// ErrorIDInvalidField: a field does not parse, such as a filter's
	// identifier without its package, module or entity name
	// (INVALID_ARGUMENT).
	ErrorIDInvalidField = "INVALID_FIELD"
	// ErrorIDUpdateNotFound: GetUpdateById found no visible transaction with
	// that update id (NOT_FOUND).
	ErrorIDUpdateNotFound = "UPDATE_NOT_FOUND"
	// ErrorIDAccessTokenExpired: the token a stream was opened with expired
	// (ABORTED; refresh the token and resume from the last offset).
	ErrorIDAccessTokenExpired = "ACCESS_TOKEN_EXPIRED"
	// ErrorIDUnprocessedRequestedTimestamp: admin lookup of a record time the
	// participant has not processed yet (FAILED_PRECONDITION, AdminV35).
	ErrorIDUnprocessedRequestedTimestamp = "UNPROCESSED_REQUESTED_TIMESTAMP"
	// ErrorIDExactRecordTimeMatchNotFound: admin lookup without force and no
	// update (transaction or time advance) of the synchronizer has exactly
	// the requested record time (NOT_FOUND, AdminV35).
	ErrorIDExactRecordTimeMatchNotFound = "EXACT_RECORD_TIME_MATCH_NOT_FOUND"
	// ErrorIDInvalidTimestampPartyManagement: any failure of the admin lookup
	// on AdminV34; on AdminV35, no update of the synchronizer at or before
	// the timestamp (OUT_OF_RANGE).
	ErrorIDInvalidTimestampPartyManagement = "INVALID_TIMESTAMP_PARTY_MANAGEMENT_ERROR"
	// ErrorIDInvalidArgumentPartyManagement: the admin lookup names a
	// synchronizer the participant does not know (INVALID_ARGUMENT, AdminV35).
	ErrorIDInvalidArgumentPartyManagement = "INVALID_ARGUMENT_PARTY_MANAGEMENT_ERROR"
	// ErrorIDInjectedFault marks errors injected by [Participant.FailNext].
	ErrorIDInjectedFault = "TEST_INJECTED_FAULT"
)

// MetadataEarliestOffset is the ErrorInfo metadata key of a
// PARTICIPANT_PRUNED_DATA_ACCESSED error: the pruning offset, in decimal.
const MetadataEarliestOffset = "earliest_offset"

// StatusError builds an error the way a Canton participant reports one: a
// gRPC status with code, the message "ERROR_ID(category,correlation): cause",
// and the details google.rpc.ErrorInfo{Reason: errorID, Metadata: metadata
// plus "category"} and google.rpc.RequestInfo{RequestId: correlation}. Errors
// of a retryable category (UNAVAILABLE, ABORTED, DEADLINE_EXCEEDED,
// OUT_OF_RANGE) also carry google.rpc.RetryInfo with a one second delay.
//
// The category is the number of Canton's error category for the code (for
// example 12 for OUT_OF_RANGE, 9 for FAILED_PRECONDITION); the correlation id
// is eight random hex digits. Use it in [Participant.Intercept] hooks to
// inject realistic failures.
//
// The categories Canton treats as security-sensitive (UNAUTHENTICATED,
// PERMISSION_DENIED, INTERNAL, UNKNOWN) are redacted as Canton redacts them:
// the message "An error occurred. Please contact the operator and inquire
// about the request <correlation> with tid <trace id>" and a RequestInfo
// only; errorID, cause and metadata are not sent.
func StatusError(code codes.Code, errorID, cause string, metadata map[string]string) error {
	category := categoryOf(code)
	correlation := fmt.Sprintf("%08x", rand.Uint32())
	if securitySensitive(code) {
		return redacted(code, correlation)
	}
	msg := fmt.Sprintf("%s(%d,%s): %s", errorID, category, correlation, cause)
	md := make(map[string]string, len(metadata)+1)
	md["category"] = fmt.Sprint(category)
	for k, v := range metadata {
		md[k] = v
	}
	st := status.New(code, msg)
	withDetails, err := st.WithDetails(
		&errdetails.ErrorInfo{Reason: errorID, Metadata: md},
		&errdetails.RequestInfo{RequestId: correlation},
	)
	if err != nil {
		return st.Err()
	}
	if retryable(code) {
		if d, err := withDetails.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)}); err == nil {
			withDetails = d
		}
	}
	return withDetails.Err()
}

// categoryOf maps a gRPC code to the number of the Canton error category
// that produces it.
func categoryOf(code codes.Code) int {
	switch code {
	case codes.Unavailable:
		return 1 // TransientServerFailure
	case codes.Aborted:
		return 2 // ContentionOnSharedResources
	case codes.DeadlineExceeded:
		return 3 // DeadlineExceededRequestStateUnknown
	case codes.Internal:
		return 4 // SystemInternalAssumptionViolated
	case codes.Unknown:
		return 5 // MaliciousOrFaultyBehaviour
	case codes.Unauthenticated:
		return 6 // AuthInterceptorInvalidAuthenticationCredentials
	case codes.PermissionDenied:
		return 7 // InsufficientPermission
	case codes.InvalidArgument:
		return 8 // InvalidIndependentOfSystemState
	case codes.FailedPrecondition:
		return 9 // InvalidGivenCurrentSystemStateOther
	case codes.AlreadyExists:
		return 10 // InvalidGivenCurrentSystemStateResourceExists
	case codes.NotFound:
		return 11 // InvalidGivenCurrentSystemStateResourceMissing
	case codes.OutOfRange:
		return 12 // InvalidGivenCurrentSystemStateSeekAfterEnd
	case codes.Unimplemented:
		return 14 // InternalUnsupportedOperation
	default:
		return 1
	}
}

func retryable(code codes.Code) bool {
	switch code {
	case codes.Unavailable, codes.Aborted, codes.DeadlineExceeded, codes.OutOfRange:
		return true
	}
	return false
}

// securitySensitive reports whether Canton hides the cause of errors with
// this code from the client (the categories
// AuthInterceptorInvalidAuthenticationCredentials, InsufficientPermission,
// SystemInternalAssumptionViolated and MaliciousOrFaultyBehaviour).
func securitySensitive(code codes.Code) bool {
	switch code {
	case codes.Unauthenticated, codes.PermissionDenied, codes.Internal, codes.Unknown:
		return true
	}
	return false
}

// redacted is a security-sensitive error as Canton sends it: a message that
// only names the request, and a RequestInfo with its correlation id.
func redacted(code codes.Code, correlation string) error {
	st := status.Newf(code, "An error occurred. Please contact the operator and inquire about the request %s with tid %016x",
		correlation, rand.Uint64())
	if withInfo, err := st.WithDetails(&errdetails.RequestInfo{RequestId: correlation}); err == nil {
		st = withInfo
	}
	return st.Err()
}

// unauthenticated is what a participant answers to a missing or wrong token:
// a redacted message without an ErrorInfo, as Canton hides the reason of
// security-sensitive failures from the client.
func unauthenticated() error {
	return redacted(codes.Unauthenticated, fmt.Sprintf("%08x", rand.Uint32()))
}

package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error ids of the Ledger API and the admin API that txhistory acts on.
const (
	IDOffsetAfterLedgerEnd          = "OFFSET_AFTER_LEDGER_END"
	IDParticipantPrunedDataAccessed = "PARTICIPANT_PRUNED_DATA_ACCESSED"
	IDOffsetOutOfRange              = "OFFSET_OUT_OF_RANGE"
	IDUnprocessedRequestedTimestamp = "UNPROCESSED_REQUESTED_TIMESTAMP"
	IDExactRecordTimeMatchNotFound  = "EXACT_RECORD_TIME_MATCH_NOT_FOUND"
	IDInvalidTimestamp              = "INVALID_TIMESTAMP_PARTY_MANAGEMENT_ERROR"
	IDInvalidArgumentPartyMgmt      = "INVALID_ARGUMENT_PARTY_MANAGEMENT_ERROR"
	IDAccessTokenExpired            = "ACCESS_TOKEN_EXPIRED"
	IDStaleStreamAuthorization      = "STALE_STREAM_AUTHORIZATION"
)

// Sentinel errors. A *APIError matches one of them with errors.Is when its
// code and error id say so.
var (
	// ErrOffsetAfterLedgerEnd: the requested begin (or end) offset is beyond
	// the participant's ledger end. Retryable: wait for the ledger to grow.
	ErrOffsetAfterLedgerEnd = errors.New("ledger: offset after ledger end")
	// ErrPruned: the requested offset is below the participant's pruning
	// offset. The error is a *PrunedError carrying the earliest offset.
	ErrPruned = errors.New("ledger: participant pruned the requested data")
	// ErrOffsetOutOfRange: the begin offset is after the end offset.
	ErrOffsetOutOfRange = errors.New("ledger: offset out of range")
	// ErrUnauthenticated: the participant rejected the token (or there was none).
	ErrUnauthenticated = errors.New("ledger: unauthenticated")
	// ErrPermissionDenied: the token does not grant the rights the call needs.
	ErrPermissionDenied = errors.New("ledger: permission denied")
	// ErrTokenExpired: the token used to open a long stream expired; refresh
	// it and resume from the last offset.
	ErrTokenExpired = errors.New("ledger: access token expired")
	// ErrUnprocessedTimestamp: admin look-up of a record time the participant
	// has not processed yet (Canton 3.5+).
	ErrUnprocessedTimestamp = errors.New("ledger: requested timestamp not processed yet")
	// ErrNoExactRecordTime: admin look-up without force found no transaction
	// with exactly that record time (Canton 3.5+).
	ErrNoExactRecordTime = errors.New("ledger: no transaction with exactly that record time")
	// ErrInvalidTimestamp: admin look-up failed (Canton 3.4 and earlier report
	// every failure like this).
	ErrInvalidTimestamp = errors.New("ledger: invalid timestamp for offset look-up")
	// ErrNotFound: the requested update (or other entity) does not exist.
	ErrNotFound = errors.New("ledger: not found")
	// ErrTLS: the TLS handshake failed in a way that the same configuration
	// will repeat: the participant's certificate failed verification
	// (unknown authority, expired, another host name), the participant
	// refused the client's certificate or asked for one it did not get, or
	// the endpoint does not speak TLS. Like an authentication failure, it
	// is not retryable. A handshake cut short (a reset connection, an EOF)
	// is not ErrTLS: it stays retryable as any unavailability. Under TLS 1.3
	// a participant refuses a missing client certificate after the client's
	// side of the handshake, so the client may see that as a broken pipe
	// rather than the alert; if the participant asked for a certificate and
	// the endpoint presented none, the error says so.
	ErrTLS = errors.New("ledger: TLS handshake refused")
	// ErrMessageRejected: the client could not take a message the
	// participant sent: larger than Config.MaxRecvMsgSize, or not a
	// protobuf message it can unmarshal; or the participant refused the
	// request as bigger than it takes (the error says which): in the same
	// words if it is written in Go, in grpc-java's ("gRPC message exceeds
	// maximum size") if it is Canton; or a proxy in front of the
	// participant refused the answer at a limit of its own, in the words
	// of its gRPC library, Go's or Java's (the error says so, and names
	// the limit). Resuming from the same offset receives the same message,
	// so it is not retryable: raise MaxRecvMsgSize (or the proxy's limit),
	// or escalate the message to the participant's operators. A
	// transaction that does not unmarshal but whose offset can be read (a
	// text that is not UTF-8) is a *DecodeError naming it instead, and the
	// stream goes on.
	ErrMessageRejected = errors.New("ledger: message from the participant rejected by the client")
	// ErrUnknownUpdateKind: an item of the update stream is none of the
	// kinds the reference lists (a transaction, a reassignment, an
	// OffsetCheckpoint, a topology transaction), a kind of a newer
	// participant. Its offset cannot be read, so UpdateStream.Recv names
	// the offset it came after. The stream does not go past it, and
	// resuming receives it again: it is not retryable. Skipping it could
	// skip a transaction of the treasury; a release of txhistory that
	// knows the kind is needed.
	ErrUnknownUpdateKind = errors.New("ledger: update stream item has no known kind")
)

// rejectedMessage reports whether a status without a Canton error id is
// grpc-go's own refusal of a received message, or a grpc-java
// participant's refusal of the request (javaRefusal).
func rejectedMessage(code codes.Code, msg string) bool {
	switch code {
	case codes.ResourceExhausted:
		// Compressed messages are measured once decompressed: "grpc:
		// received message after decompression larger than max" (or
		// "grpc: message after decompression larger than max").
		return strings.Contains(msg, "grpc: received message larger than max") ||
			strings.Contains(msg, "after decompression larger than max") ||
			javaRefusal(msg)
	case codes.Internal:
		return strings.Contains(msg, "grpc: failed to unmarshal the received message")
	}
	return false
}

// APIError is a failed Ledger API or admin API call.
type APIError struct {
	Op       string     // the call, e.g. "GetUpdates"
	Code     codes.Code // gRPC status code
	ErrorID  string     // Canton error id, e.g. OFFSET_AFTER_LEDGER_END; empty if none was sent
	Message  string     // the status message (the body of an answer that is not gRPC's withheld)
	Metadata map[string]string
	err      error  // the original status error
	hint     string // what to do about it, if the client knows (limitHint)
}

func (e *APIError) Error() string {
	if e.Is(ErrTLS) {
		return fmt.Sprintf("ledger: %s: TLS handshake refused (%s): %s", e.Op, e.Code, e.Message)
	}
	if e.hint != "" {
		return fmt.Sprintf("ledger: %s: %s: %s: %s", e.Op, e.Code, e.Message, e.hint)
	}
	return fmt.Sprintf("ledger: %s: %s: %s", e.Op, e.Code, e.Message)
}

// limitHint adds to err, if it is the client's refusal of a received
// message larger than its limit, which message it was (what: "the message
// after offset N" on the update stream, "update X" for GetUpdateById) and
// which setting raises the limit: Dial's Config.MaxRecvMsgSize, or the
// connection given to NewClient (dialed false). grpc-go's own words
// ("received message larger than max", RESOURCE_EXHAUSTED, the code of a
// participant's backpressure too) say neither.
//
// A participant (or a proxy) written in Go refuses a request bigger than
// it takes in the same words, and Canton (grpc-java) in its own: req is
// the call's request, so that its refusal (a filter of many parties) names
// the participant's limit instead of the client's, which cannot help. A
// proxy in front of the participant refuses an answer bigger than it takes
// in the words of its gRPC library too, Go's or Java's, and passes that on:
// its limit is neither the client's nor the participant's (whatRefused).
func limitHint(err error, what string, dialed bool, req sentRequest) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.Code == codes.ResourceExhausted && ae.Is(ErrMessageRejected) {
		switch r := whatRefused(ae.Message, req); r.by {
		case byPeer:
			ae.hint = fmt.Sprintf("the participant refused the request (%d bytes, a filter of %d parties) as larger than it takes: "+
				"raise the participant's limit on received messages (Canton: the Ledger API's max-inbound-message-size) or ask for fewer parties",
				req.size, req.parties)
			return err
		case byProxy:
			client := fmt.Sprintf("the client's (ledger.Config.MaxRecvMsgSize, %d)", req.clientLimit)
			if req.clientLimit <= 0 {
				client = "the client's (gRPC in Java says it)"
			}
			ae.hint = fmt.Sprintf("%s (%d bytes) was refused on its way from the participant, which took the request (%d bytes), by a limit of %d bytes that is not %s: "+
				"a proxy in front of the participant refused it; raise that proxy's limit on the messages it receives from the participant",
				what, r.size, req.size, r.limit, client)
			if !r.java {
				ae.hint += " (or a grpc.MaxCallRecvMsgSize in ledger.Config.DialOptions overrides MaxRecvMsgSize: raise or remove it)"
			}
			return err
		}
		ae.hint = fmt.Sprintf("%s is larger than the client takes: raise ledger.Config.MaxRecvMsgSize", what)
		if !dialed {
			ae.hint = fmt.Sprintf("%s is larger than the client takes: raise the limit of the connection given to ledger.NewClient (gRPC's default is 4 MiB) with grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(n)), as ledger.Dial does with DefaultMaxRecvMsgSize", what)
		}
	}
	return err
}

// sentRequest is what limitHint knows of a call's request: its size on the
// wire and the parties of its filter, and the client's limit on a received
// message (0: unknown, a connection given to NewClient).
type sentRequest struct {
	size        int
	parties     int
	clientLimit int
}

// javaRefusal reports whether msg is grpc-java's refusal of a received
// message over its limit (io.grpc.internal.MessageDeframer: "gRPC message
// exceeds maximum size <limit>: <size>", and "Compressed gRPC message
// exceeds maximum size <limit>: <n> bytes read" or "Decompressed gRPC
// message exceeds maximum size <limit>" for a compressed one). Canton
// serves its Ledger API with grpc-java, so these are the words of a
// participant that refuses the request as bigger than its
// max-inbound-message-size, or of a proxy in Java that refuses the
// answer; the client, written in Go, never says them.
func javaRefusal(msg string) bool {
	return strings.Contains(msg, "gRPC message exceeds maximum size")
}

// refusedSize finds the size of the refused message and the limit in
// grpc-go's refusal ("received message larger than max (N vs. M)", "...
// after decompression larger than max (N vs. M)"), or the limit alone
// ("received message after decompression larger than max M").
var refusedSize = regexp.MustCompile(`larger than max (?:\((\d+) vs\. (\d+)\)|(\d+))`)

// javaSize finds the limit and, if named, the size of the refused message
// in grpc-java's refusal (javaRefusal).
var javaSize = regexp.MustCompile(`exceeds maximum size (\d+)(?:: (\d+))?`)

// refuser says who refused a message larger than a limit.
type refuser int

const (
	byClient refuser = iota // the client refused an answer (its own limit)
	byPeer                  // the participant (or a proxy) refused the request
	byProxy                 // a proxy refused an answer on its way
)

// refusal is what whatRefused makes of a refusal: who, and the limit and
// the size of the refused message as far as its words name them (-1: not
// named).
type refusal struct {
	by          refuser
	limit, size int
	java        bool // in grpc-java's words
}

// whatRefused tells who refused a message larger than a limit, from msg's
// words and the call's request. A refused message bigger than the request
// is an answer: a request sent compressed is refused at its compressed
// size, or after decompression at the limit plus one byte or with no size
// at all, none of them above the request's. grpc-java's words are never
// the client's: the request's, refused by the participant (Canton) or a
// proxy in Java; or an answer, which the participant does not receive, so
// a proxy's. For grpc-go's: a limit other than the client's own, when it
// is known, is a proxy's refusal of an answer, or else the refusal of the
// request; with the client's limit unknown, the limit is below the
// request's size and the size refused, if named, is not above it. The
// client's refusal of an answer is taken for the request's only if the
// request too is beyond the client's limit, which a participant that took
// it allows more than.
func whatRefused(msg string, req sentRequest) refusal {
	r := refusal{by: byClient, limit: -1, size: -1, java: javaRefusal(msg)}
	if r.java {
		if m := javaSize.FindStringSubmatch(msg); m != nil {
			r.limit = atoiOr(m[1], -1)
			r.size = atoiOr(m[2], -1)
		}
		r.by = byPeer
		if r.size > req.size {
			r.by = byProxy
		}
		return r
	}
	m := refusedSize.FindStringSubmatch(msg)
	if m == nil {
		return r
	}
	limit := m[2]
	if limit == "" {
		limit = m[3]
	}
	if r.limit = atoiOr(limit, -1); r.limit < 0 {
		return r
	}
	r.size = atoiOr(m[1], -1)
	switch {
	case req.clientLimit > 0 && r.limit == req.clientLimit:
		// The client's own limit.
	case req.clientLimit > 0 && r.size > req.size:
		r.by = byProxy
	case req.clientLimit > 0:
		r.by = byPeer
	case r.limit < req.size && r.size <= req.size:
		r.by = byPeer // r.size -1 (not named) included
	}
	return r
}

// atoiOr returns s as a number, or or if s is not one.
func atoiOr(s string, or int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return or
	}
	return n
}

// Unwrap returns the underlying gRPC status error.
func (e *APIError) Unwrap() error { return e.err }

// GRPCStatus lets status.FromError see through the wrapper.
func (e *APIError) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// Is matches the package's sentinel errors.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrOffsetAfterLedgerEnd:
		return e.ErrorID == IDOffsetAfterLedgerEnd
	case ErrPruned:
		return e.ErrorID == IDParticipantPrunedDataAccessed
	case ErrOffsetOutOfRange:
		return e.ErrorID == IDOffsetOutOfRange
	case ErrUnauthenticated:
		return e.Code == codes.Unauthenticated
	case ErrPermissionDenied:
		return e.Code == codes.PermissionDenied
	case ErrTokenExpired:
		return e.ErrorID == IDAccessTokenExpired
	case ErrUnprocessedTimestamp:
		return e.ErrorID == IDUnprocessedRequestedTimestamp
	case ErrNoExactRecordTime:
		return e.ErrorID == IDExactRecordTimeMatchNotFound
	case ErrInvalidTimestamp:
		return e.ErrorID == IDInvalidTimestamp
	case ErrNotFound:
		return e.Code == codes.NotFound && e.ErrorID != IDExactRecordTimeMatchNotFound
	case ErrTLS:
		return e.Code == codes.Unavailable && tlsRefusal(e.Message)
	case ErrMessageRejected:
		return e.ErrorID == "" && rejectedMessage(e.Code, e.Message)
	}
	return false
}

// tlsRefusals are the parts of a gRPC connection error's message (Go's
// crypto/tls and crypto/x509 wording) that say the TLS handshake was refused
// for a reason that repeating it will not change. The error reaches the
// client as a status message only, so the text is all there is to go by.
var tlsRefusals = []string{
	"tls: failed to verify certificate", // the participant's certificate
	"x509: ",
	"tls: first record does not look like a TLS handshake", // a plaintext endpoint
	// TLS alerts from the participant about the client's certificate or
	// its TLS settings.
	"remote error: tls: bad certificate",
	"remote error: tls: certificate required",
	"remote error: tls: unknown certificate", // "… authority" too; Java's certificate_unknown
	"remote error: tls: expired certificate",
	"remote error: tls: revoked certificate",
	"remote error: tls: unsupported certificate",
	"remote error: tls: access denied",
	"remote error: tls: handshake failure",
	"remote error: tls: protocol version not supported",
	"remote error: tls: insufficient security level",
	"remote error: tls: unrecognized name",
	"remote error: tls: no application protocol",
}

func tlsRefusal(msg string) bool {
	for _, s := range tlsRefusals {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// PrunedError says that the requested begin offset lies below the
// participant's pruning offset. errors.Is(err, ErrPruned) holds for it.
type PrunedError struct {
	// Requested is the begin offset that was asked for or, when pruning
	// ran while the stream was open, the offset of the last item the
	// stream delivered: where it would resume.
	Requested int64
	// EarliestOffset is the earliest offset that can still be read from
	// (the pruning offset, exclusive begin); 0 if the participant did not say.
	EarliestOffset int64
	API            *APIError
}

func (e *PrunedError) Error() string {
	if e.EarliestOffset > 0 {
		return fmt.Sprintf("ledger: offset %d was pruned by the participant; the earliest available begin offset is %d", e.Requested, e.EarliestOffset)
	}
	return fmt.Sprintf("ledger: offset %d was pruned by the participant (earliest available offset not reported)", e.Requested)
}

func (e *PrunedError) Unwrap() error { return e.API }

// Is matches ErrPruned.
func (e *PrunedError) Is(target error) bool { return target == ErrPruned }

// ErrStreamBroken wraps a stream that ended without a status (a reset
// connection, an unexpected EOF), or, for SynchronizerTimes, with status OK
// before its answer. Retryable.
var ErrStreamBroken = errors.New("ledger: update stream broken")

// ErrClientClosed is the error of a call made through a Client after its
// Close, or of a stream that Close ended. Not retryable: no participant can be
// reached through a closed Client.
var ErrClientClosed = errors.New("ledger: client closed")

// callError is mapError for a call of a Client: once closed (closed set,
// nil for none), its failures are ErrClientClosed, where gRPC says CANCELED
// as for a stream the participant cancelled.
func callError(closed *atomic.Bool, op string, err error) error {
	if closed != nil && closed.Load() && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: %v", ErrClientClosed, op, err)
	}
	return mapError(op, err)
}

// mapError turns a gRPC error into an *APIError (or *PrunedError). Context
// errors pass through unchanged. grpc-go reports the cancellation of the
// caller's own context as a status CANCELED, which cannot be told from a
// server or proxy cancelling the stream: it becomes ErrStreamBroken, so
// callers check their context first (as ingest and recovery do).
func mapError(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s: %v", ErrStreamBroken, op, err)
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("ledger: %s: %w", op, err)
	}
	if msg, cut := withholdBody(st.Message()); cut {
		p := st.Proto()
		p.Message = msg
		st = status.FromProto(p)
		err = st.Err()
	}
	ae := &APIError{Op: op, Code: st.Code(), Message: st.Message(), err: err}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			ae.ErrorID = info.GetReason()
			ae.Metadata = info.GetMetadata()
			break
		}
	}
	if ae.ErrorID == "" {
		ae.ErrorID = errorIDFromMessage(st.Message())
	}
	if st.Code() == codes.Canceled && ae.ErrorID == "" {
		// The server or a proxy cancelled the stream: treat as a broken stream.
		return fmt.Errorf("%w: %s: %v", ErrStreamBroken, op, err)
	}
	return ae
}

// nonGRPCBody starts grpc-go's quote of the body of an answer that is not
// gRPC's (an HTTP status or content type a proxy sent): "<why>\ndata: %q".
const nonGRPCBody = "\ndata: \""

// withholdBody cuts the quoted body out of grpc-go's message for an answer
// that is not gRPC's: the endpoint that sent it (a proxy, a gateway, an
// echo service) may echo the request's headers, the bearer token among
// them. The HTTP status and content type stay.
func withholdBody(msg string) (string, bool) {
	i := strings.Index(msg, nonGRPCBody)
	if i < 0 || !strings.Contains(msg[:i], "unexpected HTTP status code") && !strings.Contains(msg[:i], "unexpected content-type") {
		return msg, false
	}
	return msg[:i] + "\ndata: (the response body is withheld: it may echo the request's token)", true
}

// errorIDFromMessage reads the error id that Canton puts at the start of a
// status message: "ERROR_ID(category,correlation): cause".
func errorIDFromMessage(msg string) string {
	end := strings.IndexAny(msg, "(:")
	if end <= 0 {
		return ""
	}
	id := msg[:end]
	for _, r := range id {
		if !(r == '_' || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return ""
		}
	}
	return id
}

func prunedError(begin int64, ae *APIError) *PrunedError {
	pe := &PrunedError{Requested: begin, API: ae}
	for _, k := range []string{"earliest_offset", "earliestOffset", "earliest_available_offset"} {
		if s, ok := ae.Metadata[k]; ok {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				pe.EarliestOffset = n
				break
			}
		}
	}
	return pe
}

// IsRetryable reports whether a failed call may succeed if repeated later
// (after a backoff, a token refresh, or once the ledger has grown): transient
// unavailability, broken streams, an offset beyond the ledger end, an expired
// token or stale stream authorisation (ABORTED), the participant's
// backpressure (RESOURCE_EXHAUSTED), a deadline exceeded, and INTERNAL or
// UNKNOWN without a Canton error id (a broken HTTP/2 stream, a proxy's
// HTTP 500 in front of the participant, which grpc-go reports as UNKNOWN,
// or Canton's redacted internal or faulty-behaviour error). Authentication
// and permission failures (a refused TLS handshake included, ErrTLS),
// pruned offsets, offsets out of range, invalid arguments, unimplemented
// calls, INTERNAL or UNKNOWN with a Canton error id, a message the client
// cannot take (ErrMessageRejected), an update of unknown kind
// (ErrUnknownUpdateKind), errors that are not the participant's and the
// calls of a closed Client (ErrClientClosed) are not.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, ErrTLS) || errors.Is(err, ErrMessageRejected) {
		return false
	}
	if errors.Is(err, ErrStreamBroken) || errors.Is(err, ErrOffsetAfterLedgerEnd) {
		return true
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Code {
	case codes.Unavailable, codes.ResourceExhausted, codes.Aborted, codes.DeadlineExceeded:
		return true
	case codes.Internal, codes.Unknown:
		// Broken HTTP/2 streams surface as INTERNAL without a Canton error
		// id, a proxy's HTTP 500 (or another status grpc-go does not map)
		// as UNKNOWN, and Canton's own internal and faulty-behaviour errors
		// are redacted ("An error occurred. Please contact the
		// operator..."): retried with backoff, never in a tight loop.
		return ae.ErrorID == ""
	}
	return false
}

// IsAuth reports whether err is an authentication or permission failure,
// which no retry will fix: a rejected token, missing rights, or a refused
// TLS handshake (ErrTLS).
func IsAuth(err error) bool {
	return errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrPermissionDenied) || errors.Is(err, ErrTLS)
}

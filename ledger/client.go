package ledger

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cantonx/txhistory/internal/ctxerr"
	"github.com/cantonx/txhistory/internal/nilcheck"
	"github.com/cantonx/txhistory/proto/gen/adminv30"
	pb "github.com/cantonx/txhistory/proto/gen/lapiv2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// DefaultMaxRecvMsgSize is the default limit on one message from the
// participant: large enough for transactions with many events.
const DefaultMaxRecvMsgSize = 64 << 20

// DefaultReceiveWindow is the default Config.ReceiveWindow: 1 MiB.
const DefaultReceiveWindow = 1 << 20

// MinReceiveWindow is the smallest Config.ReceiveWindow: HTTP/2's initial
// window, 65,535 bytes.
const MinReceiveWindow = 65535

// ReconnectMaxDelay caps the delay between the gRPC connection's reconnect
// attempts (Config.DialOptions can override it).
const ReconnectMaxDelay = 5 * time.Second

// KeepaliveTime and KeepaliveTimeout: while a call or stream is open and
// nothing has arrived for KeepaliveTime, the client pings the participant,
// and closes the connection if no answer comes within KeepaliveTimeout; its
// calls and streams then fail UNAVAILABLE (retryable). Without them a
// stream on a half-open connection (a NAT or firewall that forgot it, a
// host gone without a reset) waits for hours. Canton accepts pings every
// 10s on the Ledger API and every 20s on the admin API
// (permit-keep-alive-time); Config.DialOptions can override them
// (grpc.WithKeepaliveParams) for a proxy that accepts fewer.
const (
	KeepaliveTime    = 30 * time.Second
	KeepaliveTimeout = 20 * time.Second
)

// TokenSource supplies the bearer token for a call. It is asked before every
// call (and every stream), so a source that refreshes expiring tokens keeps
// long-running ingestion authorised. Implementations must be safe for
// concurrent use. The token is sent as "authorization: Bearer <token>" and is
// never logged or put into errors by this package; one holding anything but
// printable ASCII (a trailing line break) cannot be sent and fails the call
// UNAUTHENTICATED, which ingestion does not retry. An error from Token
// that carries no gRPC status fails the call as UNAVAILABLE (retryable: the
// source could not fetch a token for now); return a status error, such as
// codes.Unauthenticated, for a failure no retry will fix.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// TokenInvalidator is implemented by a TokenSource that can drop a token
// the participant refused: one it ended a stream for as expired (ABORTED
// ACCESS_TOKEN_EXPIRED) or refused a call with (UNAUTHENTICATED) while the
// source still held it for valid, as when the participant's clock runs
// ahead of the identity provider's. The client then calls Invalidate with
// the token that call sent; if the source still holds it, its next Token
// fetches a new one instead of handing out the refused token again (the
// retry of an expired stream would be refused, and ingestion stop).
// ClientCredentials implements it. A TokenSource of your own that wraps
// one (adding a cache, a metric) should implement it too and pass the call
// on, or refused tokens are handed out again until they expire.
// Invalidate must not block for long: it runs on the failing call's path.
type TokenInvalidator interface {
	Invalidate(token string)
}

// StaticToken is a TokenSource that always returns the same token. It
// prints as REDACTED, with any fmt verb, in JSON and in slog's handlers,
// alone or in a logged Config (as empty when it is empty, so that a
// missing token shows): string(s) is the token.
type StaticToken string

// Token returns the token.
func (s StaticToken) Token(context.Context) (string, error) { return string(s), nil }

// Format prints REDACTED, not the token (nothing for an empty one).
func (s StaticToken) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.printed()) }

// MarshalText returns REDACTED, not the token (JSON, slog's handlers;
// empty for an empty one).
func (s StaticToken) MarshalText() ([]byte, error) { return []byte(s.printed()), nil }

func (s StaticToken) printed() string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

// TokenFunc adapts a function to TokenSource.
type TokenFunc func(ctx context.Context) (string, error)

// Token calls f.
func (f TokenFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// Endpoint says how to reach one gRPC endpoint.
type Endpoint struct {
	// Target is the gRPC target, usually "host:port". Empty: Dial refuses
	// the endpoint (for Config.Admin, the admin API is off instead).
	Target string
	// TLS configures TLS (set Certificates for mutual TLS, or
	// GetClientCertificate to read a client certificate rotated in its
	// files again at each handshake, as examples/ingestd does). Nil means
	// plaintext, which is refused unless Insecure is set.
	TLS *tls.Config
	// Insecure allows plaintext, for loopback and tests. Tokens are then sent
	// in clear text. Default false: plaintext is refused. Ignored when TLS is
	// set.
	Insecure bool
	// Tokens, if set, supplies a bearer token for every call. One holding
	// a nil func or pointer is refused.
	Tokens TokenSource
}

// Config configures a Client.
type Config struct {
	// LedgerAPI is the participant's Ledger API endpoint. Required.
	LedgerAPI Endpoint
	// Admin is the participant's admin API endpoint, needed only by the
	// restore runbook. Empty Target: admin calls fail with ErrNoAdminAPI.
	Admin Endpoint
	// MaxRecvMsgSize limits one received message. Default
	// DefaultMaxRecvMsgSize; negative: refused.
	MaxRecvMsgSize int
	// ReceiveWindow is the HTTP/2 flow-control window, in bytes, that the
	// client grants the participant on each stream and on the connection:
	// how much of a stream may arrive ahead of what the ingester has read.
	// Default DefaultReceiveWindow (1 MiB); at least MinReceiveWindow. The
	// window bounds memory: gRPC's own flow control, used with a negative
	// value, grows the window with the measured bandwidth up to 16 MiB, and
	// in a catch-up bound by the database that much waits, received, in
	// gRPC's buffers, on top of the Ingester's StreamBufferBytes. It also
	// bounds throughput, to a window per round trip: 1 MiB per millisecond
	// is ample next to the participant; over a long round trip (another
	// region) raise it, or take gRPC's with a negative value. A message
	// larger than the window is still received whole.
	ReceiveWindow int
	// DialOptions are appended to the options the client builds, so they
	// take precedence over them: the reconnect backoff, the keepalive
	// pings (KeepaliveTime), and the buffer pool
	// (the client's reuses gRPC's buffers without clearing them;
	// experimental.WithBufferPool(mem.DefaultBufferPool()) restores gRPC's).
	DialOptions []grpc.DialOption
}

// WithDefaults returns a copy of c with its zero sizes filled:
// MaxRecvMsgSize with DefaultMaxRecvMsgSize and ReceiveWindow with
// DefaultReceiveWindow. Negative values are kept (Dial refuses a negative
// MaxRecvMsgSize and takes a negative ReceiveWindow for gRPC's dynamic
// window). Dial applies it; call it to log or check the configuration a
// Dial will use.
func (c Config) WithDefaults() Config {
	if c.MaxRecvMsgSize == 0 {
		c.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	if c.ReceiveWindow == 0 {
		c.ReceiveWindow = DefaultReceiveWindow
	}
	return c
}

// ErrNoAdminAPI is returned by admin calls of a Client without an admin endpoint.
var ErrNoAdminAPI = errors.New("ledger: no admin API endpoint configured")

// Client talks to a participant's Ledger API v2 and, optionally, its admin API.
// It is safe for concurrent use.
type Client struct {
	conn      *grpc.ClientConn
	adminConn *grpc.ClientConn
	updates   pb.UpdateServiceClient
	state     pb.StateServiceClient
	parties   adminv30.PartyManagementServiceClient
	// closed is set by Close: what fails after it is ErrClientClosed.
	closed atomic.Bool
	// recvLimit is Config.MaxRecvMsgSize of a Dial (0 for NewClient's
	// connections, whose limit is the caller's): limitHint tells the
	// client's refusal of a message from the participant's of a request by
	// the limit the refusal names.
	recvLimit int
}

// Dial creates a Client. Connections are established lazily, on the first call.
func Dial(cfg Config) (*Client, error) {
	if cfg.MaxRecvMsgSize < 0 {
		return nil, fmt.Errorf("ledger: Config.MaxRecvMsgSize is negative (%d): zero gives the default, DefaultMaxRecvMsgSize", cfg.MaxRecvMsgSize)
	}
	cfg = cfg.WithDefaults()
	if cfg.ReceiveWindow > 0 && (cfg.ReceiveWindow < MinReceiveWindow || cfg.ReceiveWindow > math.MaxInt32) {
		return nil, fmt.Errorf("ledger: ReceiveWindow %d is outside %d..%d bytes (negative: gRPC's dynamic window)",
			cfg.ReceiveWindow, MinReceiveWindow, math.MaxInt32)
	}
	conn, err := dial(cfg.LedgerAPI, cfg, "Ledger API")
	if err != nil {
		return nil, err
	}
	c := &Client{conn: conn, updates: pb.NewUpdateServiceClient(conn), state: pb.NewStateServiceClient(conn), recvLimit: cfg.MaxRecvMsgSize}
	if cfg.Admin.Target != "" {
		if c.adminConn, err = dial(cfg.Admin, cfg, "admin API"); err != nil {
			conn.Close()
			return nil, err
		}
		c.parties = adminv30.NewPartyManagementServiceClient(c.adminConn)
	}
	return c, nil
}

// NewClient wraps existing connections (for callers that manage their own
// gRPC connections). admin may be nil. What Dial sets up on its connections
// is then the caller's to set: TLS, the bearer token, keepalive pings
// (KeepaliveTime), the dropping of refused tokens (TokenInvalidator) and
// the limit on a received message,
// grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(DefaultMaxRecvMsgSize)):
// gRPC's own default, 4 MiB, is less than a treasury's transaction of a
// thousand transfers, which would stop ingestion (ErrMessageRejected).
func NewClient(conn, admin grpc.ClientConnInterface) *Client {
	c := &Client{updates: pb.NewUpdateServiceClient(conn), state: pb.NewStateServiceClient(conn)}
	if admin != nil {
		c.parties = adminv30.NewPartyManagementServiceClient(admin)
	}
	return c
}

func dial(ep Endpoint, cfg Config, what string) (*grpc.ClientConn, error) {
	if ep.Target == "" {
		return nil, fmt.Errorf("ledger: %s endpoint has no target", what)
	}
	if nilcheck.Holds(ep.Tokens) {
		return nil, fmt.Errorf("ledger: %s endpoint %s: Tokens holds a nil func or pointer", what, ep.Target)
	}
	var opts []grpc.DialOption
	switch {
	case ep.TLS != nil:
		opts = append(opts, grpc.WithTransportCredentials(tlsCredentials(ep.TLS)))
	case ep.Insecure:
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	default:
		return nil, fmt.Errorf("ledger: %s endpoint %s: set TLS, or Insecure for plaintext", what, ep.Target)
	}
	if ep.Tokens != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{src: ep.Tokens, secure: ep.TLS != nil}))
		if inv, ok := ep.Tokens.(TokenInvalidator); ok {
			opts = append(opts, grpc.WithChainUnaryInterceptor(invalidateUnary(inv)),
				grpc.WithChainStreamInterceptor(invalidateStream(inv)))
		}
	}
	opts = append(opts, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(cfg.MaxRecvMsgSize)))
	if cfg.ReceiveWindow > 0 {
		opts = append(opts, grpc.WithStaticStreamWindowSize(int32(cfg.ReceiveWindow)),
			grpc.WithStaticConnWindowSize(int32(cfg.ReceiveWindow)))
	}
	// gRPC's default reconnect backoff grows to two minutes; a participant
	// back after an outage should be noticed within seconds.
	opts = append(opts, grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: ReconnectMaxDelay},
		MinConnectTimeout: 5 * time.Second,
	}))
	opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: KeepaliveTime, Timeout: KeepaliveTimeout}))
	opts = append(opts, experimental.WithBufferPool(recvPool))
	opts = append(opts, cfg.DialOptions...)
	conn, err := grpc.NewClient(ep.Target, opts...)
	if err != nil {
		return nil, fmt.Errorf("ledger: %s endpoint %s: %w", what, ep.Target, err)
	}
	return conn, nil
}

type bearer struct {
	src    TokenSource
	secure bool
}

func (b bearer) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok, err := b.src.Token(ctx)
	if err != nil {
		// The source's error must not carry the token; we add nothing of it.
		err = fmt.Errorf("ledger: get access token: %w", err)
		if _, ok := status.FromError(err); ok {
			return nil, err
		}
		// grpc-go would report an error without a status as
		// UNAUTHENTICATED, which stops ingestion: a source that failed to
		// fetch a token (a timeout, a file being rewritten) is
		// unavailable for now, and one that gave up because the call's
		// context ended reports that end (DEADLINE_EXCEEDED, CANCELLED).
		// Sources that know better return a status (ClientCredentials
		// does for a refused client).
		code := codes.Unavailable
		if cerr := ctx.Err(); cerr != nil {
			code = status.FromContextError(cerr).Code()
		}
		return nil, status.Error(code, err.Error())
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < 0x20 || tok[i] > 0x7e {
			// gRPC would fail the call INTERNAL, retried for ever; no
			// retry sends it. Neither the token nor its characters are
			// quoted.
			return nil, status.Errorf(codes.Unauthenticated,
				"ledger: the access token cannot be sent: byte %d of its %d is not printable ASCII (a line break from a token file or variable?)", i+1, len(tok))
		}
	}
	if sent, ok := ctx.Value(sentTokenKey{}).(*sentToken); ok {
		sent.set(tok)
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

// sentToken is the token a call sent, kept for the TokenInvalidator when
// the participant refuses it (the interceptors put one in the call's
// context, bearer fills it in).
type sentToken struct {
	mu  sync.Mutex
	tok string
}

type sentTokenKey struct{}

func (s *sentToken) set(tok string) {
	s.mu.Lock()
	s.tok = tok
	s.mu.Unlock()
}

// refused tells inv that the call's token was refused, if err says so.
func (s *sentToken) refused(inv TokenInvalidator, err error) {
	if err == nil {
		return
	}
	if e := mapError("", err); !errors.Is(e, ErrTokenExpired) && !errors.Is(e, ErrUnauthenticated) {
		return
	}
	s.mu.Lock()
	tok := s.tok
	s.mu.Unlock()
	if tok != "" {
		inv.Invalidate(tok)
	}
}

func invalidateUnary(inv TokenInvalidator) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		sent := &sentToken{}
		err := invoker(context.WithValue(ctx, sentTokenKey{}, sent), method, req, reply, cc, opts...)
		sent.refused(inv, err)
		return err
	}
}

func invalidateStream(inv TokenInvalidator) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		sent := &sentToken{}
		cs, err := streamer(context.WithValue(ctx, sentTokenKey{}, sent), desc, cc, method, opts...)
		if err != nil {
			sent.refused(inv, err)
			return nil, err
		}
		return &invalidatingStream{ClientStream: cs, sent: sent, inv: inv}, nil
	}
}

// invalidatingStream watches a stream's end for a refused token.
type invalidatingStream struct {
	grpc.ClientStream
	sent *sentToken
	inv  TokenInvalidator
}

func (s *invalidatingStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.sent.refused(s.inv, err)
	}
	return err
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }

// Close closes the connections that Dial opened. Calls that fail after it,
// and the streams it ends, fail with ErrClientClosed, which no retry fixes
// (gRPC reports a closed connection as CANCELED, as it does a stream a
// participant or a proxy cancelled). Closing again does nothing.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	var errs []error
	if c.conn != nil {
		errs = append(errs, c.conn.Close())
	}
	if c.adminConn != nil {
		errs = append(errs, c.adminConn.Close())
	}
	return errors.Join(errs...)
}

// Filter selects what the update stream delivers.
type Filter struct {
	// Parties whose transactions to read (the treasury party). Required.
	Parties []string
	// Interfaces whose views to include in created events. Nil means the
	// token standard v1 interfaces (TokenStandardInterfaces); an empty
	// non-nil slice means none.
	Interfaces []Identifier
}

// UpdateFormat builds the wire format txhistory always asks for: ledger
// effects, verbose values, and per party a wildcard filter plus one interface
// filter (with views) per interface.
func (f Filter) UpdateFormat() *pb.UpdateFormat {
	ifaces := f.Interfaces
	if ifaces == nil {
		ifaces = TokenStandardInterfaces()
	}
	byParty := make(map[string]*pb.Filters, len(f.Parties))
	for _, p := range f.Parties {
		cum := []*pb.CumulativeFilter{{IdentifierFilter: &pb.CumulativeFilter_WildcardFilter{WildcardFilter: &pb.WildcardFilter{}}}}
		for _, id := range ifaces {
			cum = append(cum, &pb.CumulativeFilter{IdentifierFilter: &pb.CumulativeFilter_InterfaceFilter{
				InterfaceFilter: &pb.InterfaceFilter{InterfaceId: id.Proto(), IncludeInterfaceView: true},
			}})
		}
		byParty[p] = &pb.Filters{Cumulative: cum}
	}
	return &pb.UpdateFormat{IncludeTransactions: &pb.TransactionFormat{
		EventFormat:      &pb.EventFormat{FiltersByParty: byParty, Verbose: true},
		TransactionShape: pb.TransactionShape_TRANSACTION_SHAPE_LEDGER_EFFECTS,
	}}
}

// UpdatesRequest asks for a range of the update stream.
type UpdatesRequest struct {
	// BeginExclusive: deliver updates after this offset (0 = from the start).
	BeginExclusive int64
	// EndInclusive: stop after this offset; 0 tails the ledger forever.
	// Negative is refused, as a negative BeginExclusive is.
	EndInclusive int64
	Filter       Filter
}

// Proto builds the wire request.
func (r UpdatesRequest) Proto() *pb.GetUpdatesRequest {
	req := &pb.GetUpdatesRequest{BeginExclusive: r.BeginExclusive, UpdateFormat: r.Filter.UpdateFormat()}
	if r.EndInclusive > 0 {
		end := r.EndInclusive
		req.EndInclusive = &end
	}
	return req
}

// UpdateStream is an open GetUpdates stream.
type UpdateStream struct {
	stream grpc.ServerStreamingClient[pb.GetUpdatesResponse]
	cancel context.CancelFunc
	closed *atomic.Bool // the Client's
	end    int64        // the request's EndInclusive, 0 when it tails
	// last is the offset of the last item received, or the request's
	// BeginExclusive: where the stream resumes, and the offset a
	// PrunedError names when pruning overtakes the stream while it is open.
	last   int64
	frame  wireFrame    // the last message's bytes (frameCodec)
	dec    *wireDecoder // decodes them (wire.go)
	err    error        // a message that did not unmarshal ended the stream
	size   int          // the size of the last message Recv returned an update of
	dialed bool         // the Client's connection is Dial's (its MaxRecvMsgSize), not the caller's
	req    sentRequest  // the request that opened the stream
}

// Updates opens the update stream. Errors at opening are reported by the
// first Recv, as gRPC reports them.
func (c *Client) Updates(ctx context.Context, r UpdatesRequest) (*UpdateStream, error) {
	if len(r.Filter.Parties) == 0 {
		return nil, errors.New("ledger: updates request names no party")
	}
	if r.BeginExclusive < 0 {
		return nil, fmt.Errorf("ledger: invalid begin offset %d", r.BeginExclusive)
	}
	if r.EndInclusive < 0 {
		return nil, fmt.Errorf("ledger: invalid end offset %d", r.EndInclusive)
	}
	ctx, cancel := context.WithCancel(ctx)
	req := r.Proto()
	st, err := c.updates.GetUpdates(ctx, req, grpc.ForceCodecV2(newFrameCodec()))
	if err != nil {
		cancel()
		return nil, streamErr(&c.closed, r.BeginExclusive, err)
	}
	return &UpdateStream{stream: st, cancel: cancel, closed: &c.closed, end: r.EndInclusive, last: r.BeginExclusive, dec: newWireDecoder(),
		dialed: c.conn != nil, req: sentRequest{size: proto.Size(req), parties: len(r.Filter.Parties), clientLimit: c.recvLimit}}, nil
}

func streamErr(closed *atomic.Bool, begin int64, err error) error {
	mapped := callError(closed, "GetUpdates", err)
	var ae *APIError
	if errors.As(mapped, &ae) && ae.ErrorID == IDParticipantPrunedDataAccessed {
		return prunedError(begin, ae)
	}
	return mapped
}

// Recv returns the next update. It returns io.EOF after the end offset of a
// bounded stream. Updates arrive in strictly increasing offset order (an
// OffsetCheckpoint may repeat the offset of the item before it); an offset
// that does not increase, or one past the end offset of a bounded stream,
// is reported as an error.
func (s *UpdateStream) Recv() (Update, error) {
	if s.err != nil {
		return Update{}, s.err
	}
	if err := s.stream.RecvMsg(&s.frame); err != nil {
		// The stream is over, as gRPC's is once RecvMsg fails: so is its
		// context, which would otherwise stay until Close or the end of
		// the caller's (a caller that reads to io.EOF, as gRPC's streams
		// are read, need not Close).
		s.cancel()
		if err == io.EOF {
			return Update{}, io.EOF
		}
		return Update{}, limitHint(streamErr(s.closed, s.last, err), fmt.Sprintf("the message after offset %d", s.last), s.dialed, s.req)
	}
	u, unmarshalErr, err := s.dec.decode(s.frame.b)
	if unmarshalErr != nil {
		if de := unmarshalable(s.frame.b, unmarshalErr); de != nil {
			// A malformed transaction, named: the stream goes on.
			unmarshalErr, err = nil, de
		}
	}
	size := len(s.frame.b)
	s.frame.release()
	if unmarshalErr != nil {
		// As gRPC does when its codec fails: the stream ends with the error.
		s.err = streamErr(nil, s.last, unmarshalErr)
		s.cancel()
		return Update{}, s.err
	}
	if errors.Is(err, ErrUnknownUpdateKind) {
		s.err = fmt.Errorf("%w: the item after offset %d (a newer participant's kind of update?): this release cannot read past it", err, s.last)
		s.cancel()
		return Update{}, s.err
	}
	// A malformed transaction is checked by its offset too, all that may
	// be known of it: one set aside must not move the checkpoint where the
	// stream never goes.
	var malformed *DecodeError
	if err != nil && (!errors.As(err, &malformed) || malformed.Offset <= 0) {
		return Update{}, err
	}
	off, id, kind := u.Offset(), "", u.Kind
	switch {
	case malformed != nil:
		off, id, kind = malformed.Offset, malformed.UpdateID, UpdateTransaction
	case u.Transaction != nil:
		id = u.Transaction.UpdateID
	}
	if off != 0 {
		// An OffsetCheckpoint may repeat the offset of the item before it
		// ("everything up to here was delivered"); nothing else may.
		if off < s.last || (off == s.last && kind != UpdateCheckpoint) {
			what := "offset"
			if kind == UpdateCheckpoint {
				what = "offset checkpoint at offset" // no update id to tell it by
			}
			return Update{}, &DecodeError{Offset: off, UpdateID: id, NodeID: -1,
				Err: fmt.Errorf("%s %d does not increase (previous %d)", what, off, s.last)}
		}
		if s.end > 0 && off > s.end {
			// Past what was asked for: the participant never sends it, and
			// the checkpoint must not move past the end of a bounded
			// catch-up on its word.
			return Update{}, &DecodeError{Offset: off, UpdateID: id, NodeID: -1,
				Err: fmt.Errorf("offset %d is past the end offset %d the stream was asked to stop at", off, s.end)}
		}
		s.last = off
	}
	if malformed != nil {
		return Update{}, err
	}
	s.size = size
	return u, nil
}

// WireSize returns the size in bytes, as it arrived, of the message the last
// successful Recv decoded: a measure of how much memory the update holds
// (a decoded token transfer takes about one and a half times its size).
func (s *UpdateStream) WireSize() int { return s.size }

// Close cancels the stream and releases it: call it when done with a
// stream that Recv did not end. One whose Recv returned io.EOF, or an
// error that ended the stream (any but a *DecodeError), is released
// already; closing it, or closing again, does nothing. A *DecodeError (a
// malformed transaction, an offset that does not increase or is past the
// end offset) leaves the stream open, for Recv to read on: one given up
// there is released by Close alone (or the end of Updates' ctx).
func (s *UpdateStream) Close() { s.cancel() }

// LedgerEnd returns the participant's ledger end offset (0 for an empty ledger).
func (c *Client) LedgerEnd(ctx context.Context) (int64, error) {
	r, err := c.state.GetLedgerEnd(ctx, &pb.GetLedgerEndRequest{})
	if err != nil {
		return 0, callError(&c.closed, "GetLedgerEnd", err)
	}
	return r.GetOffset(), nil
}

// SynchronizerTimes returns the synchronizers the participant reports,
// each with the latest record time it names, sorted by id: those of the
// first OffsetCheckpoint on a stream tailing from its ledger end (which
// carries every synchronizer the participant has a record time of), and
// those of any transaction of f's parties delivered before it. A
// participant sends that checkpoint right after a batch of transactions,
// or once the stream has idled (Canton: about a minute): bound ctx
// accordingly (the error wraps its end). A stream ended before it fails
// with an error matching ErrStreamBroken (retryable). The Ledger API has no other call listing them (the
// console's participant.synchronizers.list_connected() is not part of
// it).
func (c *Client) SynchronizerTimes(ctx context.Context, f Filter) (_ []SynchronizerTime, err error) {
	defer func() { err = ctxerr.Wrap(ctx, err) }()
	end, err := c.LedgerEnd(ctx)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := c.Updates(sctx, UpdatesRequest{BeginExclusive: end, Filter: f})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	latest := map[string]time.Time{}
	note := func(id string, t time.Time) {
		if prev, ok := latest[id]; id != "" && (!ok || t.After(prev)) {
			latest[id] = t
		}
	}
	for {
		u, err := st.Recv()
		if errors.Is(err, io.EOF) {
			// A tailing stream ended with status OK (a proxy closing an
			// idle stream): no answer, to ask again like a broken one.
			return nil, fmt.Errorf("ledger: the participant ended the stream from its ledger end %d (status OK) before an OffsetCheckpoint: %w", end, ErrStreamBroken)
		}
		if err != nil {
			return nil, err
		}
		switch u.Kind {
		case UpdateTransaction:
			note(u.Transaction.SynchronizerID, u.Transaction.RecordTime)
		case UpdateCheckpoint:
			for _, s := range u.Checkpoint.SynchronizerTimes {
				note(s.SynchronizerID, s.RecordTime)
			}
			out := make([]SynchronizerTime, 0, len(latest))
			for id, t := range latest {
				out = append(out, SynchronizerTime{SynchronizerID: id, RecordTime: t})
			}
			slices.SortFunc(out, func(a, b SynchronizerTime) int { return strings.Compare(a.SynchronizerID, b.SynchronizerID) })
			return out, nil
		}
	}
}

// PrunedOffsets are the participant's pruning offsets.
type PrunedOffsets struct {
	ParticipantPrunedUpToInclusive          int64
	AllDivulgedContractsPrunedUpToInclusive int64
}

// PrunedOffsets returns the participant's latest pruning offsets.
func (c *Client) PrunedOffsets(ctx context.Context) (PrunedOffsets, error) {
	r, err := c.state.GetLatestPrunedOffsets(ctx, &pb.GetLatestPrunedOffsetsRequest{})
	if err != nil {
		return PrunedOffsets{}, callError(&c.closed, "GetLatestPrunedOffsets", err)
	}
	return PrunedOffsets{
		ParticipantPrunedUpToInclusive:          r.GetParticipantPrunedUpToInclusive(),
		AllDivulgedContractsPrunedUpToInclusive: r.GetAllDivulgedContractsPrunedUpToInclusive(),
	}, nil
}

// UpdateByID looks up a transaction by update id. It returns an error
// matching ErrNotFound if the participant does not know it.
func (c *Client) UpdateByID(ctx context.Context, updateID string, f Filter) (*Transaction, error) {
	req := &pb.GetUpdateByIdRequest{UpdateId: updateID, UpdateFormat: f.UpdateFormat()}
	r, err := c.updates.GetUpdateById(ctx, req)
	if err != nil {
		return nil, limitHint(callError(&c.closed, "GetUpdateById", err), "update "+updateID, c.conn != nil,
			sentRequest{size: proto.Size(req), parties: len(f.Parties), clientLimit: c.recvLimit})
	}
	t := r.GetTransaction()
	if t == nil {
		return nil, fmt.Errorf("ledger: update %s is not a transaction", updateID)
	}
	return TransactionFromProto(t)
}

// HighestOffsetByTimestamp asks the admin API for the highest ledger offset
// of synchronizerID whose record time is at or before t (the console's
// find_highest_offset_by_timestamp). Without force, Canton 3.5+ answers only
// once it has processed t, and only for an exact record-time match. With
// force it answers its ledger end for a time it has not processed yet:
// callers must make sure the participant has caught up first. t is sent
// truncated to its microsecond, the precision of Canton's record times (the
// same answer for "at or before t").
func (c *Client) HighestOffsetByTimestamp(ctx context.Context, synchronizerID string, t time.Time, force bool) (int64, error) {
	if c.parties == nil {
		return 0, ErrNoAdminAPI
	}
	r, err := c.parties.GetHighestOffsetByTimestamp(ctx, &adminv30.GetHighestOffsetByTimestampRequest{
		SynchronizerId: synchronizerID, Timestamp: timestamppb.New(t.Truncate(time.Microsecond)), Force: force,
	})
	if err != nil {
		return 0, callError(&c.closed, "GetHighestOffsetByTimestamp", err)
	}
	return r.GetLedgerOffset(), nil
}

// Package ledger is txhistory's client of the Canton Ledger API v2 and of the
// participant admin API, and the domain types that the rest of the library
// sees instead of generated protobuf code.
//
// # Connecting
//
//	client, err := ledger.Dial(ledger.Config{
//		LedgerAPI: ledger.Endpoint{Target: "validator:5001", TLS: &tls.Config{}, Tokens: mySource},
//		Admin:     ledger.Endpoint{Target: "validator:5002", TLS: &tls.Config{}},
//	})
//
// Plaintext is refused unless Endpoint.Insecure is set (loopback and tests).
// Tokens are fetched from the TokenSource before every call and stream, so a
// refreshing source keeps a long ingestion authorised.
//
// # Reading updates
//
// Updates opens GetUpdates with the shape txhistory relies on: ledger effects,
// verbose values, a wildcard filter for the treasury party plus the token
// standard interfaces with their views. Recv returns each item as an Update:
// a *Transaction, an *OffsetCheckpoint, or (ignored) a reassignment or
// topology transaction.
//
// # Values
//
// Value is an immutable Daml value with typed accessors (AsText, AsParty,
// AsDecimal, Get, ...) that return a *ValueError instead of panicking, so that
// malformed input becomes an error naming where it was. Numerics are kept as
// the exact text the participant sent; AsDecimal parses them exactly, never
// through a float.
//
// # Errors
//
// Failed calls return an *APIError carrying the gRPC code and Canton's error
// id; errors.Is matches the sentinels (ErrOffsetAfterLedgerEnd, ErrPruned,
// ErrUnauthenticated, ...). A pruned begin offset is a *PrunedError naming the
// earliest available offset. IsRetryable says whether a retry can help:
// never for authentication or permission failures, nor for a TLS handshake
// that failed on a certificate or on a plaintext endpoint (ErrTLS), nor for a
// call through a Client after its Close (ErrClientClosed). An item of the
// update stream of a kind this release does not know stops the stream
// (ErrUnknownUpdateKind), naming the offset it came after.
//
// # Generated code
//
// The generated code (proto/gen) registers the Ledger API's own file paths
// and message names (com/daml/ledger/api/v2/..., com.daml.ledger.api.v2.*)
// in the protobuf registry, as any Go build of those .proto files does. A
// program that also links another Go build of them panics when it starts,
// with protobuf's registration conflict; run it with
// GOLANG_PROTOBUF_REGISTRATION_CONFLICT=warn, or keep the two in separate
// processes.
package ledger

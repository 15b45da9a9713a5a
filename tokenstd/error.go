package tokenstd

import "fmt"

// ParseError says that a transaction could not be read as token standard
// activity: a field is missing or has the wrong type, a numeric is
// malformed, an interface version is unknown. It names the transaction and
// the event, so the operator can find them on the ledger.
//
// Parse errors are never retried: the same transaction fails the same way.
// The History handler either stops ingestion with one (Halt) or sets the
// transaction aside for review (SetAside).
type ParseError struct {
	UpdateID string
	Offset   int64
	// NodeID is the event's node id, -1 when the error is not about one event.
	NodeID int32
	Err    error
}

func (e *ParseError) Error() string {
	if e.NodeID >= 0 {
		return fmt.Sprintf("tokenstd: transaction %s at offset %d, node %d: %v", e.UpdateID, e.Offset, e.NodeID, e.Err)
	}
	return fmt.Sprintf("tokenstd: transaction %s at offset %d: %v", e.UpdateID, e.Offset, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

package ledger_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// An OffsetCheckpoint going back is refused naming it as one: the error
// read "ledger: decode update  at offset 4: offset 4 does not increase
// (previous 5)", a blank where an update id would be and nothing saying
// that the item is a checkpoint, not a transaction without an update id.
func TestRV134CheckpointGoingBackNamedAsOne(t *testing.T) {
	rt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err := recvSequence(t, txAt(5, rt), checkpointAt(4, rt))
	var de *ledger.DecodeError
	require.ErrorAs(t, err, &de)
	require.EqualValues(t, 4, de.Offset)
	require.NotContains(t, err.Error(), "  ")
	require.Contains(t, err.Error(), "offset checkpoint")
}

// A DecodeError without an update id (the transaction has none) leaves no
// blank in its message.
func TestRV134DecodeErrorWithoutUpdateID(t *testing.T) {
	err := &ledger.DecodeError{Offset: 7, NodeID: -1, Err: errors.New("transaction has no update id")}
	require.Equal(t, "ledger: decode update at offset 7: transaction has no update id", err.Error())
}

package ledgertest

import (
	"io"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Reference, errors table: "pruning ran while a stream was open | stream
// aborted | re-open from the last offset (or fail with the pruned error if
// it is now below pruning)". A bounded stream that has read its range must
// not go on delivering offsets pruned meanwhile, nor end cleanly.
func TestPruningAbortsAnOpenBoundedStream(t *testing.T) {
	f := setup(t, WithCheckpointInterval(time.Hour))
	for range 5 {
		_, err := f.p.Append(txFor("alice"))
		require.NoError(t, err)
	}
	f.p.SetDelay(100 * time.Millisecond) // a slow network: the stream is mid-range when pruning runs
	r := f.open(t, bounded(0, 5))
	require.Equal(t, int64(1), r.nextTx().GetOffset())
	require.NoError(t, f.p.Prune(3))

	txs, err := r.rest()
	var after []int64
	for _, tx := range txs {
		after = append(after, tx.GetOffset())
	}
	assert.NotErrorIs(t, err, io.EOF, "the stream ended cleanly although pruning ran while it was open; offsets delivered after Prune(3): %v", after)
	assert.Contains(t, []codes.Code{codes.Aborted, codes.FailedPrecondition}, status.Code(err), "%v", err)
	for _, off := range after {
		assert.Greater(t, off, int64(3), "offset %d delivered after it was pruned", off)
	}
}

// The same on a tailing stream, in the middle of a batch it has read.
func TestPruningAbortsATailingStreamMidBatch(t *testing.T) {
	f := setup(t, WithCheckpointInterval(time.Hour))
	for range 5 {
		_, err := f.p.Append(txFor("alice"))
		require.NoError(t, err)
	}
	f.p.SetDelay(100 * time.Millisecond)
	r := f.open(t, tail(0))
	require.Equal(t, int64(1), r.nextTx().GetOffset())
	require.NoError(t, f.p.Prune(3))

	txs, err := r.rest()
	for _, tx := range txs {
		require.Greater(t, tx.GetOffset(), int64(3), "offset %d delivered after it was pruned", tx.GetOffset())
	}
	require.Contains(t, []codes.Code{codes.Aborted, codes.FailedPrecondition}, status.Code(err), "%v", err)
}

// TRANSACTION_SHAPE_ACS_DELTA shows the changes to the requesting parties'
// active contract set: a party sees a create only as a stakeholder
// (signatory or observer), not as a mere witness, so a treasury that paid
// a withdrawal does not see the receiver's new holding.
func TestACSDeltaShowsOnlyStakeholderContracts(t *testing.T) {
	f := setup(t, WithCheckpointInterval(time.Hour))
	// treasury exercises a choice that creates a contract of receiver's:
	// treasury witnesses the create but is not a stakeholder.
	payout := &ledger.CreatedEvent{
		ContractID:      "cid-receiver-holding",
		TemplateID:      amuletTemplate,
		CreateArguments: ledger.Record(nil, ledger.F("owner", ledger.Party("receiver"))),
		WitnessParties:  []string{"receiver", "treasury"},
		Signatories:     []string{"receiver"},
	}
	_, err := f.p.Append(&ledger.Transaction{Events: []ledger.Event{payout}})
	require.NoError(t, err)

	req := &lapiv2.GetUpdatesRequest{EndInclusive: proto.Int64(1), UpdateFormat: &lapiv2.UpdateFormat{IncludeTransactions: &lapiv2.TransactionFormat{
		EventFormat:      &lapiv2.EventFormat{FiltersByParty: map[string]*lapiv2.Filters{"treasury": wildcard()}, Verbose: true},
		TransactionShape: lapiv2.TransactionShape_TRANSACTION_SHAPE_ACS_DELTA,
	}}}
	txs, err := f.open(t, req).rest()
	require.ErrorIs(t, err, io.EOF)
	require.Empty(t, txs, "ACS_DELTA for treasury shows a contract treasury is no stakeholder of")
}

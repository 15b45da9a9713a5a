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

// Canton's Ledger API conformance suite (CheckpointInTailingStreamsIT,
// TXServeTailingStreamCheckpointEmptyImmediatelyAtLedgerEnd): a tailing
// stream opened at the ledger end gets an OffsetCheckpoint within a second,
// at an offset not before begin_exclusive. The participant streams the
// checkpoint it has cached for offset begin_exclusive at the start of the
// first range (injectCheckpoints, RangeBegin), so it repeats
// begin_exclusive: a consumer restarted at its committed offset receives a
// checkpoint at that very offset, a batch whose FromOffset equals its
// ToOffset.
func TestTailingStreamOpenedAtAQuietLedgerEndGetsACheckpoint(t *testing.T) {
	f := setup(t, WithCheckpointInterval(20*time.Millisecond))
	got, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond) // the ledger end has stayed put for longer than the interval

	r := f.open(t, tail(1))
	it, ok := r.readWithin(time.Second)
	require.True(t, ok, "no OffsetCheckpoint within a second of opening a tailing stream at the ledger end")
	require.NoError(t, it.err)
	cp := it.resp.GetOffsetCheckpoint()
	require.NotNil(t, cp, "want a checkpoint, got %v", it.resp)
	require.GreaterOrEqual(t, cp.GetOffset(), int64(1))
	require.Equal(t, ts(got[0].RecordTime), ts(cp.GetSynchronizerTimes()[0].GetRecordTime().AsTime()))
}

// Canton's injectCheckpoints, on the idle timeout: when the last range a
// tailing stream delivered ended at the offset of the participant's cached
// checkpoint and no checkpoint at that offset was streamed yet, it sends
// it. A transaction at the ledger end is therefore followed, once the
// stream idles, by a checkpoint at the same offset carrying every
// synchronizer's record time.
func TestIdleTailingStreamCheckpointsTheTransactionAtTheLedgerEnd(t *testing.T) {
	f := setup(t, WithCheckpointInterval(20*time.Millisecond))
	r := f.open(t, tail(0))
	got, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)
	require.Equal(t, int64(1), r.nextTx().GetOffset())

	it, ok := r.readWithin(time.Second)
	require.True(t, ok, "no OffsetCheckpoint after the stream idled past the interval behind a transaction at the ledger end")
	require.NoError(t, it.err)
	cp := it.resp.GetOffsetCheckpoint()
	require.NotNil(t, cp, "want a checkpoint, got %v", it.resp)
	require.Equal(t, int64(1), cp.GetOffset())
	require.Equal(t, ts(got[0].RecordTime), ts(cp.GetSynchronizerTimes()[0].GetRecordTime().AsTime()))
}

package ledgertest

import (
	"context"
	"fmt"
	"time"

	"github.com/cantonx/txhistory/proto/gen/adminv30"
	"google.golang.org/grpc/codes"
)

// AdminBehaviour selects which Canton release's GetHighestOffsetByTimestamp
// the fake participant imitates.
type AdminBehaviour int

const (
	// AdminV34 answers like Canton 3.4 and earlier: the highest offset of a
	// transaction of the synchronizer with record time ≤ the timestamp, no
	// exact match needed. With force and a timestamp at or after the
	// synchronizer's processed record time it answers the current ledger end,
	// the same trap as AdminV35. Every failure (timestamp beyond what the
	// participant processed without force, unknown synchronizer, no
	// transaction at or before the timestamp) is OUT_OF_RANGE
	// INVALID_TIMESTAMP_PARTY_MANAGEMENT_ERROR.
	AdminV34 AdminBehaviour = iota + 1
	// AdminV35 answers like Canton 3.5 and later:
	//
	//   - unknown synchronizer: INVALID_ARGUMENT
	//     INVALID_ARGUMENT_PARTY_MANAGEMENT_ERROR;
	//   - no update of the synchronizer at or before the timestamp, force
	//     or not: OUT_OF_RANGE INVALID_TIMESTAMP_PARTY_MANAGEMENT_ERROR, as
	//     Canton looks that offset up before anything else;
	//   - timestamp after the synchronizer's processed record time, without
	//     force: FAILED_PRECONDITION UNPROCESSED_REQUESTED_TIMESTAMP;
	//   - timestamp at or after the processed record time, with force: the
	//     current ledger end. This is the documented trap of the restore
	//     runbook: a participant still catching up answers with an offset
	//     that is far too low;
	//   - otherwise, without force: the offset of the highest update
	//     (transaction or time advance) with exactly that record time, or
	//     NOT_FOUND EXACT_RECORD_TIME_MATCH_NOT_FOUND if there is none;
	//   - otherwise, with force: the highest offset of an update with
	//     record time ≤ the timestamp.
	AdminV35
)

func (b AdminBehaviour) String() string {
	switch b {
	case AdminV34:
		return "AdminV34"
	case AdminV35:
		return "AdminV35"
	}
	return fmt.Sprintf("AdminBehaviour(%d)", int(b))
}

// SetAdminBehaviour changes the admin API's behaviour, as an upgrade of the
// participant would. It panics on an unknown behaviour.
func (p *Participant) SetAdminBehaviour(b AdminBehaviour) {
	if b != AdminV34 && b != AdminV35 {
		panic(fmt.Sprintf("ledgertest: unknown admin behaviour %d", int(b)))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.admin = b
}

// ProcessedRecordTime returns the record time the participant has processed
// on a synchronizer ("" for the default one): the latest record time of its
// transactions and time advances the participant has processed. It is the
// zero time for a synchronizer the participant knows nothing of. After a
// Restore WithCatchUp(true) it lags behind until CatchUp.
func (p *Participant) ProcessedRecordTime(syncID string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if syncID == "" {
		syncID = p.cfg.synchronizer
	}
	return p.processed[syncID]
}

type adminService struct {
	adminv30.UnimplementedPartyManagementServiceServer
	p *Participant
}

// GetHighestOffsetByTimestamp looks at every processed update, whatever its
// parties, pruned or not: transactions and time advances (AdvanceTime).
func (s adminService) GetHighestOffsetByTimestamp(ctx context.Context, req *adminv30.GetHighestOffsetByTimestampRequest) (*adminv30.GetHighestOffsetByTimestampResponse, error) {
	p := s.p
	if _, err := p.enter(ctx, MethodGetHighestOffsetByTimestamp, req); err != nil {
		return nil, err
	}
	syncID := req.GetSynchronizerId()
	if syncID == "" {
		return nil, missingField("synchronizer_id")
	}
	if req.GetTimestamp() == nil {
		return nil, missingField("timestamp")
	}
	ts := normTime(req.GetTimestamp().AsTime())

	p.mu.Lock()
	behaviour := p.admin
	processed, known := p.processed[syncID]
	ledgerEnd := p.end
	// The lookup is not filtered by party: a time advance (AdvanceTime,
	// the participant's updates no stream shows) is an update of its
	// synchronizer with an offset, as a transaction is.
	var highest int64 // highest offset of an update of syncID with record time ≤ ts
	exact := false    // some update has record time = ts
	for i := len(p.log) - 1; i >= 0; i-- {
		e := p.log[i]
		if e.sync == syncID && !e.time.After(ts) {
			// Record times never decrease along offsets on a synchronizer,
			// so the first hit from the end is the highest and, if any
			// update has exactly ts, this one has.
			highest, exact = e.offset, e.time.Equal(ts)
			break
		}
	}
	p.mu.Unlock()

	answer := func(off int64) (*adminv30.GetHighestOffsetByTimestampResponse, error) {
		return &adminv30.GetHighestOffsetByTimestampResponse{LedgerOffset: off}, nil
	}
	at := ts.Format(time.RFC3339Nano)

	if behaviour == AdminV34 {
		var cause string
		switch {
		case !known:
			cause = fmt.Sprintf("synchronizer %s is unknown", syncID)
		case req.GetForce() && !ts.Before(processed):
			return answer(ledgerEnd)
		case ts.After(processed):
			cause = fmt.Sprintf("timestamp %s is after the clean synchronizer index %s of synchronizer %s", at, processed.Format(time.RFC3339Nano), syncID)
		case highest == 0:
			cause = fmt.Sprintf("no offset of synchronizer %s has a record time at or before %s", syncID, at)
		default:
			return answer(highest)
		}
		return nil, StatusError(codes.OutOfRange, ErrorIDInvalidTimestampPartyManagement, cause, nil)
	}

	switch {
	case !known:
		return nil, StatusError(codes.InvalidArgument, ErrorIDInvalidArgumentPartyManagement,
			fmt.Sprintf("synchronizer %s is unknown to the participant", syncID), map[string]string{"synchronizer_id": syncID})
	case highest == 0:
		return nil, StatusError(codes.OutOfRange, ErrorIDInvalidTimestampPartyManagement,
			fmt.Sprintf("No ledger offset found for the requested timestamp %s on synchronizer %s (using force flag = %t): The participant does not yet have a ledger offset before or at the requested timestamp",
				at, syncID, req.GetForce()), map[string]string{"synchronizer_id": syncID})
	case req.GetForce() && !ts.Before(processed):
		return answer(ledgerEnd)
	case ts.After(processed):
		return nil, StatusError(codes.FailedPrecondition, ErrorIDUnprocessedRequestedTimestamp,
			fmt.Sprintf("Not all events have been processed fully and/or published to the Ledger API DB until the requested timestamp: %s (synchronizer %s has processed until %s)",
				at, syncID, processed.Format(time.RFC3339Nano)),
			map[string]string{"synchronizer_id": syncID})
	case req.GetForce():
		return answer(highest)
	case !exact:
		return nil, StatusError(codes.NotFound, ErrorIDExactRecordTimeMatchNotFound,
			fmt.Sprintf("No transaction of synchronizer %s has exactly the record time %s; use force to get the highest offset before it", syncID, at),
			map[string]string{"synchronizer_id": syncID})
	default:
		return answer(highest)
	}
}

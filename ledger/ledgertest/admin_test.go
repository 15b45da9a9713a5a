package ledgertest

import (
	"net"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/adminv30"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// adminLedger appends, on the default synchronizer, transactions at t0, t1,
// t1 (a non-unique record time) and t3, then advances the synchronizer's
// time to t4, and appends one transaction on another synchronizer. Offsets:
// 1 (t0), 2 (t1), 3 (t1), 4 (t3), 5 (time advance to t4), 6 (other).
func adminLedger(t *testing.T, f *fixture) (t0, t1, t3, t4 time.Time) {
	t.Helper()
	t0 = DefaultStartTime
	t1 = t0.Add(time.Second)
	t3 = t0.Add(3 * time.Second)
	t4 = t0.Add(4 * time.Second)
	_, err := f.p.Append(
		&ledger.Transaction{RecordTime: t0, Events: txFor("alice").Events},
		&ledger.Transaction{RecordTime: t1, Events: txFor("bob").Events},
		&ledger.Transaction{RecordTime: t1, Events: txFor("bob").Events},
		&ledger.Transaction{RecordTime: t3, Events: txFor("alice").Events},
	)
	require.NoError(t, err)
	f.p.AdvanceTime(DefaultSynchronizer, t4)
	_, err = f.p.Append(&ledger.Transaction{SynchronizerID: "other::1", RecordTime: t4.Add(time.Hour), Events: txFor("alice").Events})
	require.NoError(t, err)
	require.Equal(t, int64(6), f.p.LedgerEnd())
	require.Equal(t, t4, f.p.ProcessedRecordTime(DefaultSynchronizer))
	return t0, t1, t3, t4
}

func (f *fixture) lookup(t *testing.T, syncID string, at time.Time, force bool) (int64, error) {
	t.Helper()
	resp, err := f.admin.GetHighestOffsetByTimestamp(ctxT(t), &adminv30.GetHighestOffsetByTimestampRequest{
		SynchronizerId: syncID, Timestamp: timestamppb.New(at), Force: force,
	})
	return resp.GetLedgerOffset(), err
}

func TestAdminV35(t *testing.T) {
	f := setup(t) // AdminV35 is the default
	t0, t1, t3, t4 := adminLedger(t, f)

	ok := func(at time.Time, force bool, want int64) {
		t.Helper()
		got, err := f.lookup(t, DefaultSynchronizer, at, force)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	fails := func(at time.Time, force bool, code codes.Code, id string) {
		t.Helper()
		_, err := f.lookup(t, DefaultSynchronizer, at, force)
		requireError(t, err, code, id)
	}

	// Exact record times.
	ok(t0, false, 1)
	ok(t1, false, 3) // the highest of the transactions sharing t1
	ok(t3, false, 4)
	// No transaction at exactly that time: NOT_FOUND unless forced.
	fails(t1.Add(time.Microsecond), false, codes.NotFound, ErrorIDExactRecordTimeMatchNotFound)
	ok(t1.Add(time.Microsecond), true, 3)
	ok(t4, false, 5) // a time advance is an update the streams do not show, with an offset
	// Nothing at or before the timestamp: OUT_OF_RANGE, forced or not.
	fails(t0.Add(-time.Second), true, codes.OutOfRange, ErrorIDInvalidTimestampPartyManagement)
	fails(t0.Add(-time.Second), false, codes.OutOfRange, ErrorIDInvalidTimestampPartyManagement)
	// Beyond what the participant processed.
	fails(t4.Add(time.Microsecond), false, codes.FailedPrecondition, ErrorIDUnprocessedRequestedTimestamp)
	// The documented trap: forced, at or past the processed time, it answers the ledger end.
	ok(t4.Add(time.Hour), true, 6)
	ok(t4, true, 6)

	_, err := f.lookup(t, "unknown::1", t1, false)
	requireError(t, err, codes.InvalidArgument, ErrorIDInvalidArgumentPartyManagement)
	_, err = f.lookup(t, "", t1, false)
	requireError(t, err, codes.InvalidArgument, ErrorIDMissingField)

	got, err := f.lookup(t, "other::1", t4.Add(time.Hour), false)
	require.NoError(t, err)
	require.Equal(t, int64(6), got)
}

// Canton 3.5's GetHighestOffsetByTimestamp (GrpcPartyManagementService)
// first looks up the synchronizer's last offset at or before the timestamp
// and, when there is none, fails with OUT_OF_RANGE
// INVALID_TIMESTAMP_PARTY_MANAGEMENT_ERROR ("The participant does not yet
// have a ledger offset before or at the requested timestamp"), force or
// not: only then come the unprocessed, forced and exact-match rules. A
// forced answer of 0 or an EXACT_RECORD_TIME_MATCH_NOT_FOUND there makes a
// client that treats INVALID_TIMESTAMP as 3.4-only, or OUT_OF_RANGE as
// "retry", pass against the fake and retry until it gives up in production.
func TestAdminV35NothingAtOrBeforeTheTimestamp(t *testing.T) {
	f := setup(t) // AdminV35 is the default
	t0, _, _, _ := adminLedger(t, f)
	for _, force := range []bool{false, true} {
		off, err := f.lookup(t, DefaultSynchronizer, t0.Add(-time.Second), force)
		require.Error(t, err, "force %v: answered offset %d for a time before every update of the synchronizer", force, off)
		requireError(t, err, codes.OutOfRange, ErrorIDInvalidTimestampPartyManagement)
	}
}

func TestAdminV34(t *testing.T) {
	f := setup(t, WithAdminBehaviour(AdminV34))
	t0, t1, t3, t4 := adminLedger(t, f)

	for _, force := range []bool{false, true} { // force matters only at or past the processed time
		cases := []struct {
			at   time.Time
			want int64
		}{
			{t0, 1}, {t1, 3}, {t1.Add(time.Microsecond), 3}, {t3, 4}, {t3.Add(time.Microsecond), 4}, {t4, 5},
		}
		if force { // the trap: the ledger end
			cases[len(cases)-1].want = 6
		}
		for _, c := range cases {
			got, err := f.lookup(t, DefaultSynchronizer, c.at, force)
			require.NoError(t, err)
			require.Equal(t, c.want, got, "at %s force %v", c.at, force)
		}
		for _, c := range []struct {
			sync string
			at   time.Time
		}{
			{DefaultSynchronizer, t4.Add(time.Microsecond)}, // not processed yet
			{DefaultSynchronizer, t0.Add(-time.Second)},     // nothing at or before
			{"unknown::1", t1},
		} {
			if force && c.at.After(t4) && c.sync == DefaultSynchronizer {
				got, err := f.lookup(t, c.sync, c.at, force)
				require.NoError(t, err)
				require.Equal(t, int64(6), got, "forced, past the processed time: the ledger end")
				continue
			}
			_, err := f.lookup(t, c.sync, c.at, force)
			requireError(t, err, codes.OutOfRange, ErrorIDInvalidTimestampPartyManagement)
		}
	}

	f.p.SetAdminBehaviour(AdminV35)
	_, err := f.lookup(t, DefaultSynchronizer, t1.Add(time.Microsecond), false)
	requireError(t, err, codes.NotFound, ErrorIDExactRecordTimeMatchNotFound)
}

// The admin API is a separate endpoint from the Ledger API, by default as on
// a participant; WithSharedAdmin puts both on one listener.
func TestAdminOnSeparateListener(t *testing.T) {
	f := setup(t)
	require.NotEqual(t, f.p.Addr(), f.p.AdminAddr())
	shared := setup(t, WithSharedAdmin())
	require.Equal(t, shared.p.Addr(), shared.p.AdminAddr())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, err = New(WithSharedAdmin(), WithAdminListener(lis))
	require.Error(t, err)
	require.ErrorIs(t, lis.Close(), net.ErrClosed, "New took the listener, and closed it when it refused")
	_, err = f.p.Append(txFor("alice"))
	require.NoError(t, err)
	got, err := f.lookup(t, DefaultSynchronizer, DefaultStartTime, false)
	require.NoError(t, err)
	require.Equal(t, int64(1), got)

	// Each listener serves only its own API.
	_, err = adminv30.NewPartyManagementServiceClient(dial(t, f.p.Addr())).GetHighestOffsetByTimestamp(ctxT(t),
		&adminv30.GetHighestOffsetByTimestampRequest{SynchronizerId: DefaultSynchronizer, Timestamp: timestamppb.New(DefaultStartTime)})
	require.Equal(t, codes.Unimplemented, status.Code(err))
	_, err = lapiv2.NewStateServiceClient(dial(t, f.p.AdminAddr())).GetLedgerEnd(ctxT(t), &lapiv2.GetLedgerEndRequest{})
	require.Equal(t, codes.Unimplemented, status.Code(err))
}

// The restore runbook's step 5 on a participant that is still catching up:
// the forced lookup answers a useless ledger end, the exact lookup says
// "not processed yet" until the participant has recovered tRecovery.
func TestAdminLookupWhileCatchingUp(t *testing.T) {
	f := setup(t)
	_, err := f.p.Append(txFor("alice"), txFor("alice"))
	require.NoError(t, err)
	backup := f.p.Backup()
	ingested, err := f.p.Append(txFor("alice"), txFor("alice"), txFor("alice"))
	require.NoError(t, err)
	tRecovery := ingested[1].RecordTime // the last transaction the Integration DB holds

	f.p.Restore(backup, WithCatchUp(true))
	forced, err := f.lookup(t, DefaultSynchronizer, tRecovery, true)
	require.NoError(t, err)
	require.Equal(t, int64(2), forced, "the ledger end of the lagging participant, not offRecovery")
	_, err = f.lookup(t, DefaultSynchronizer, tRecovery, false)
	requireError(t, err, codes.FailedPrecondition, ErrorIDUnprocessedRequestedTimestamp)

	f.p.CatchUp(1)
	_, err = f.lookup(t, DefaultSynchronizer, tRecovery, false)
	requireError(t, err, codes.FailedPrecondition, ErrorIDUnprocessedRequestedTimestamp)

	f.p.CatchUp(-1)
	offRecovery, err := f.lookup(t, DefaultSynchronizer, tRecovery, false)
	require.NoError(t, err)
	require.Equal(t, int64(1004), offRecovery, "the recovered transaction's new offset")
	require.NotEqual(t, ingested[1].Offset, offRecovery)
	// Lookups as of tRecovery - 1µs (non-unique record times variant of the runbook).
	before, err := f.lookup(t, DefaultSynchronizer, tRecovery.Add(-time.Microsecond), true)
	require.NoError(t, err)
	require.Equal(t, int64(1003), before)
}

// Reference, "Caution with the admin lookup": with force = true and a
// timestamp at or past what the participant has processed, it answers with
// its current ledger end, with no version qualifier; Canton 3.4 does the
// same. A recovery that trusts a forced lookup must meet that trap against
// AdminV34 too.
func TestAdminV34ForcedLookupPastProcessedAnswersLedgerEnd(t *testing.T) {
	f := setup(t, WithAdminBehaviour(AdminV34))
	_, _, _, t4 := adminLedger(t, f) // processed up to t4 on the default synchronizer, ledger end 6

	got, err := f.lookup(t, DefaultSynchronizer, t4.Add(time.Hour), true)
	require.NoError(t, err, "Canton 3.4 answers a forced lookup past the processed record time with the ledger end")
	require.Equal(t, int64(6), got)

	got, err = f.lookup(t, DefaultSynchronizer, t4, true)
	require.NoError(t, err)
	require.Equal(t, int64(6), got, "at the processed record time, too")

	// Without force, 3.4 still fails for a time not processed yet.
	_, err = f.lookup(t, DefaultSynchronizer, t4.Add(time.Hour), false)
	requireError(t, err, codes.OutOfRange, ErrorIDInvalidTimestampPartyManagement)
}

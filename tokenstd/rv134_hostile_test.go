package tokenstd_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
)

// A participant (or a proxy) whose stream breaks the offset order, at the
// Ingester's level with the History and the Reconciler chained: Run stops
// with an error naming the offending offset (and the update id of a
// transaction), what was committed before stays as it was, and a restart
// against a participant streaming the history right books every deposit
// once.
func TestRV134OffsetsOutOfOrderStopAndResume(t *testing.T) {
	cases := []struct {
		name string
		// stream scripts what the broken participant streams once the
		// deposits at offsets 1 and 2 are ingested; it returns the offset
		// and update id the error must name, and the checkpoint Run
		// leaves (what arrived before the fault is committed).
		stream func(r *brokenRig, d1, d2, d3 *ledger.Transaction) (off int64, id string, cp int64)
	}{
		{"equal offsets", func(r *brokenRig, d1, d2, d3 *ledger.Transaction) (int64, string, int64) {
			dup := r.deposit(5, "5")
			dup.Offset = 3
			r.s.script(9, txItem(d1), txItem(d2), txItem(d3), txItem(dup))
			return 3, dup.UpdateID, 3
		}},
		{"offset going back", func(r *brokenRig, d1, d2, d3 *ledger.Transaction) (int64, string, int64) {
			back := r.deposit(5, "5")
			back.Offset = 2
			r.s.script(9, txItem(d1), txItem(d2), txItem(d3), txItem(back))
			return 2, back.UpdateID, 3
		}},
		{"first offset at or below the checkpoint", func(r *brokenRig, d1, d2, d3 *ledger.Transaction) (int64, string, int64) {
			// A proxy that ignores begin_exclusive: the stream starts over.
			r.s.script(9, txItem(d1), txItem(d2), txItem(d3))
			r.s.all = true
			return 1, d1.UpdateID, 2
		}},
		{"offset checkpoint below the last transaction", func(r *brokenRig, d1, d2, d3 *ledger.Transaction) (int64, string, int64) {
			r.s.script(9, txItem(d1), txItem(d2), txItem(d3), cpItem(2))
			return 2, "", 3
		}},
	}
	for _, c := range cases {
		for _, policy := range []ingest.PoisonPolicy{ingest.PoisonHalt, ingest.PoisonSetAside} {
			t.Run(fmt.Sprintf("%s/policy %d", c.name, policy), func(t *testing.T) {
				r := newBrokenRig(t)
				d1, d2, d3, d4 := r.deposit(1, "1"), r.deposit(2, "2"), r.deposit(3, "3"), r.deposit(4, "4")
				good := []*lapiv2.GetUpdatesResponse{txItem(d1), txItem(d2), txItem(d3), txItem(d4)}
				r.s.script(2, good[:2]...)
				require.NoError(t, r.runTo(policy, 2, 1))
				require.Equal(t, 2, r.deposits())

				off, id, cp := c.stream(r, copyTx(d1), copyTx(d2), copyTx(d3))
				err := r.runTo(policy, 9, 0)
				require.Error(t, err)
				require.Contains(t, err.Error(), fmt.Sprintf("at offset %d", off))
				if id != "" {
					require.Contains(t, err.Error(), id)
				}
				require.Equal(t, cp, r.checkpoint(), "%v", err)
				require.Equal(t, int(cp), r.deposits(), "what arrived before the fault is booked, nothing after it")
				require.Zero(t, r.count(`SELECT count(*) FROM tokens.review_transaction`), "an offset out of order is not a transaction to set aside")

				r.s.script(4, good...)
				require.NoError(t, r.runTo(policy, 4, 0))
				require.Equal(t, int64(4), r.checkpoint())
				require.Equal(t, 4, r.deposits(), "a restart against the participant put right books every deposit once")
			})
		}
	}
}

// Events a participant never sends, in one transaction of a batch: Run
// stops naming the transaction and commits nothing of its batch under
// PoisonHalt; under PoisonSetAside the transaction is set aside and the
// rest booked.
func TestRV134MalformedEventsStopOrSetAside(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(tx *ledger.Transaction)
		want  string
	}{
		{"duplicate node id", func(tx *ledger.Transaction) {
			n := len(tx.Events)
			setNode(tx.Events[n-1], tx.Events[n-2].Node())
		}, "two events with node id"},
		{"treasury holding without a contract id", func(tx *ledger.Transaction) {
			treasuryCreated(tx).ContractID = ""
		}, "created event without a contract id"},
		{"last descendant below the node id", func(tx *ledger.Transaction) {
			x := tx.Events[0].(*ledger.ExercisedEvent)
			x.LastDescendantNodeID = x.NodeID - 1
		}, "is below the node id"},
		{"exercise ranges that do not nest", func(tx *ledger.Transaction) {
			inner := tx.Events[1].(*ledger.ExercisedEvent)
			tx.Events[0].(*ledger.ExercisedEvent).LastDescendantNodeID = inner.NodeID
		}, "is past that of the enclosing exercise"},
		{"update id empty", func(tx *ledger.Transaction) { tx.UpdateID = "" }, "no update id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, policy := range []ingest.PoisonPolicy{ingest.PoisonHalt, ingest.PoisonSetAside} {
				r := newBrokenRig(t)
				d1, d2, d3, d4 := r.deposit(1, "1"), r.deposit(2, "2"), r.deposit(3, "3"), r.deposit(4, "4")
				r.s.script(2, txItem(d1), txItem(d2))
				require.NoError(t, r.runTo(policy, 2, 1))
				bad := copyTx(d3)
				c.spoil(bad)
				r.s.script(4, txItem(d1), txItem(d2), txItem(bad), txItem(d4))
				err := r.runTo(policy, 4, 0)
				if policy == ingest.PoisonHalt {
					require.ErrorContains(t, err, c.want)
					require.Contains(t, err.Error(), "offset 3")
					require.Contains(t, err.Error(), bad.UpdateID)
					require.Equal(t, int64(2), r.checkpoint())
					require.Equal(t, 2, r.deposits())
					continue
				}
				require.NoError(t, err)
				require.Equal(t, int64(4), r.checkpoint())
				require.Equal(t, 3, r.deposits())
				var why string
				require.NoError(t, r.b.db.Get(&why, `SELECT error FROM tokens.review_transaction WHERE ledger_offset = 3`))
				require.Contains(t, why, c.want)
			}
		})
	}
}

func copyTx(tx *ledger.Transaction) *ledger.Transaction {
	out, err := ledger.TransactionFromProto(tx.Proto())
	if err != nil {
		panic(err)
	}
	return out
}

func setNode(e ledger.Event, n int32) {
	switch ev := e.(type) {
	case *ledger.CreatedEvent:
		ev.NodeID = n
	case *ledger.ExercisedEvent:
		ev.NodeID = n
	case *ledger.ArchivedEvent:
		ev.NodeID = n
	}
}

// treasuryCreated returns the created event of tx whose arguments name the
// treasury.
func treasuryCreated(tx *ledger.Transaction) *ledger.CreatedEvent {
	for _, e := range tx.Events {
		if c, ok := e.(*ledger.CreatedEvent); ok && strings.Contains(c.CreateArguments.String(), treasury) {
			return c
		}
	}
	panic("no treasury holding")
}

// A record time going back on one synchronizer, behind a transaction's or
// an OffsetCheckpoint's, in the stream itself (TestRecordTimeBackwardsStops
// moves the stored one): ErrParticipantRestored naming the offset and
// update id under either policy, nothing of its batch committed, and (for
// a transaction's) a restart against the participant put right books
// every deposit once.
func TestRV134RecordTimeGoingBackInTheStream(t *testing.T) {
	for _, viaCheckpoint := range []bool{false, true} {
		for _, policy := range []ingest.PoisonPolicy{ingest.PoisonHalt, ingest.PoisonSetAside} {
			t.Run(fmt.Sprintf("checkpoint %v/policy %d", viaCheckpoint, policy), func(t *testing.T) {
				r := newBrokenRig(t)
				d1, d2, d3, d4 := r.deposit(1, "1"), r.deposit(2, "2"), r.deposit(3, "3"), r.deposit(4, "4")
				good := []*lapiv2.GetUpdatesResponse{txItem(d1), txItem(d2), txItem(d3), txItem(d4)}
				r.s.script(2, good[:2]...)
				require.NoError(t, r.runTo(policy, 2, 1))

				bad := copyTx(d3)
				items := []*lapiv2.GetUpdatesResponse{txItem(d1), txItem(d2)}
				if viaCheckpoint {
					bad.Offset = 4
					items = append(items, cpItem(3, ledger.SynchronizerTime{SynchronizerID: r.sync, RecordTime: bad.RecordTime.Add(time.Microsecond)}))
				} else {
					bad.RecordTime = d2.RecordTime.Add(-time.Microsecond)
				}
				r.s.script(9, append(items, txItem(bad))...)
				err := r.runTo(policy, 9, 0)
				require.ErrorIs(t, err, ingest.ErrParticipantRestored)
				require.Contains(t, err.Error(), fmt.Sprintf("offset %d, update %s", bad.Offset, bad.UpdateID))
				require.Equal(t, 2, r.deposits())
				if viaCheckpoint {
					// The OffsetCheckpoint may have committed alone before
					// the transaction came: the record time it brought
					// stays, and the participant's history must go past it.
					require.Contains(t, []int64{2, 3}, r.checkpoint())
					return
				}
				require.Equal(t, int64(2), r.checkpoint())

				r.s.script(4, good...)
				require.NoError(t, r.runTo(policy, 4, 0))
				require.Equal(t, 4, r.deposits())
			})
		}
	}
}

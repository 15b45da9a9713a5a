package tokenstd_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// A record time PostgreSQL cannot store (beyond its year 294276, or before
// 4713 BC; a participant's lie in Daml's years 1 to 9999) is bad input from
// the participant: under PoisonHalt Run stops with a *ledger.DecodeError
// naming the offset and update id, the checkpoint before it; under
// PoisonSetAside the transaction is set aside and the rest ingested.
func TestRV41RecordTimeOutsideRange(t *testing.T) {
	for _, c := range []struct {
		name string
		rt   time.Time
		sync string
	}{
		{"year 300000", time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{"year 300000 on a new synchronizer", time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC), "other-sync::1220bb"},
		{"year 5001 BC on a new synchronizer", time.Date(-5000, 1, 1, 0, 0, 0, 0, time.UTC), "other-sync::1220bb"},
	} {
		for _, policy := range []ingest.PoisonPolicy{ingest.PoisonHalt, ingest.PoisonSetAside} {
			t.Run(fmt.Sprintf("%s/policy %d", c.name, policy), func(t *testing.T) {
				r := newRig(t)
				w, cp := committedDeposit(t, r, policy)
				hist := r.count(`SELECT count(*) FROM tokens.token_history`)
				tx := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1"})
				tx.RecordTime = c.rt
				if c.sync != "" {
					tx.SynchronizerID = c.sync
				}
				bad := r.append(tx)[0]
				good := r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "7", Reason: "acct-2"}))[0]
				err := r.run(policy)
				t.Logf("Run: %.300v; checkpoint %d -> %d", err, cp, r.checkpoint())
				if policy == ingest.PoisonSetAside {
					require.NoError(t, err, "PoisonSetAside stopped at update %s offset %d", bad.UpdateID, bad.Offset)
					require.Equal(t, good.Offset, r.checkpoint())
					require.Equal(t, 1, r.count(`SELECT count(*) FROM tokens.review_transaction WHERE update_id = '`+bad.UpdateID+`'`))
					if c.sync != "" { // else the good one's record time follows the bad one's
						require.Equal(t, hist+1, r.count(`SELECT count(*) FROM tokens.token_history`), "only the good deposit is added")
					}
					return
				}
				require.Equal(t, cp, r.checkpoint())
				require.Equal(t, hist, r.count(`SELECT count(*) FROM tokens.token_history`))
				requireNamesTx(t, err, bad)
				var de *ledger.DecodeError
				require.True(t, errors.As(err, &de), "error %v is not a *ledger.DecodeError", err)
				require.Equal(t, bad.Offset, de.Offset)
				require.Equal(t, bad.UpdateID, de.UpdateID)
			})
		}
	}
}

// Mallory's contract, the treasury a witness, is archived under an id that
// PostgreSQL cannot hold (a NUL byte; "\x1f" and 8,000 bytes are fine): an
// unrelated contract, whose id can be no stored holding's or instruction's.
// Its transaction must not stop ingestion: History looked its id up and
// the database refused the statement, an error that was no *ParseError,
// so that History's own SetAside did not set the transaction aside either.
func TestRV41UnstorableConsumedContractIDDoesNotHaltIngestion(t *testing.T) {
	for _, cid := range []string{"00mal\x00x", "\x00"} {
		t.Run(fmt.Sprintf("%q", cid), func(t *testing.T) {
			requireNotStoppedBy(t, fmt.Sprintf("the archive of contract %q", cid), func(r *rig, _ *ledgertest.TokenWorld) {
				r.append(malloryTx(&ledger.ExercisedEvent{
					ContractID: cid, TemplateID: forgedTemplate, Choice: "Archive",
					ChoiceArgument: ledger.Record(nil), ExerciseResult: ledger.Unit(), ActingParties: []string{forger}, Consuming: true,
					WitnessParties: []string{treasury},
				}))
			})
		})
	}
}

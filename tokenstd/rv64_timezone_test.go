package tokenstd_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// A transfer instruction offered to the treasury whose requestedAt lies
// long ago (the sender chooses it; the registry only checks that it is
// past), read back when a later transaction consumes it, under a session
// TimeZone other than UTC (a role's or database's default, such as the
// server's own zone that initdb picks up): before 1901 Pacific/Chatham was
// at +12:13:48, and PostgreSQL writes that offset, seconds and all, into
// the JSON the batch reads the instruction back from.
func TestRV64InstructionRequestedLongAgoUnderAnotherTimeZone(t *testing.T) {
	r := newRig(t)
	db := r.b.db
	_, err := db.Exec(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET TimeZone = %L', current_database(), 'Pacific/Chatham'); END $$`)
	require.NoError(t, err)
	db.SetMaxIdleConns(0) // closes the idle connections: new sessions take the setting
	db.SetMaxIdleConns(2)
	var tz string
	require.NoError(t, db.Get(&tz, `SHOW TimeZone`))
	require.Equal(t, "Pacific/Chatham", tz)

	// The world's clock stamps requestedAt; the participant stamps record
	// times (2026). executeBefore = requestedAt + Expiry is still ahead.
	requested := time.Date(1850, 1, 1, 0, 0, 0, 0, time.UTC)
	w := &ledgertest.TokenWorld{Start: requested, Expiry: 200 * 365 * 24 * time.Hour}
	r.append(w.Mint(alice, "100"))
	offer, cid := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "25", Reason: "acct-1"})
	r.append(offer)
	require.NoError(t, r.run(ingest.PoisonHalt))
	pending, err := tokenstd.PendingInstructions(r.b.ctx, db, testSchema)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, 1850, pending[0].Transfer.RequestedAt.Year(), "requestedAt stored as %s", pending[0].Transfer.RequestedAt)

	accept := r.append(w.Accept(cid))[0]
	err = r.run(ingest.PoisonHalt)
	require.NoError(t, err, "the acceptance of an instruction requested at %s, read back under TimeZone %s", requested, tz)
	require.Equal(t, accept.Offset, r.checkpoint())
	require.Equal(t, 1, r.count(`SELECT count(*) FROM tokens.token_history WHERE kind = 'deposit' AND account = 'acct-1' AND update_id = '`+accept.UpdateID+`'`),
		"the deposit accepted")
}

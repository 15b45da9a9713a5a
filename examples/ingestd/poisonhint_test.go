package main

import (
	"os"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// TestPoisonHaltSaysHowToGoOn: a transaction the token standard history
// cannot ingest (here a holding whose Holding view has a malformed
// amount) stops the daemon under the default -poison halt, with exit
// 1 and an error naming the transaction's update id and offset and saying
// how to go on: fix the cause and restart, or restart with -poison
// set-aside. Restarted so, the daemon records that transaction, and only
// it, in the review table and ingests the rest to the ledger end.
func TestPoisonHaltSaysHowToGoOn(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	w := &ledgertest.TokenWorld{}
	bad := w.Mint(demoParty, "5")
	malformed := false
	for _, e := range bad.Events {
		c, ok := e.(*ledger.CreatedEvent)
		if !ok || len(c.InterfaceViews) == 0 {
			continue
		}
		view := c.InterfaceViews[0].Value
		fields, err := view.AsRecord()
		require.NoError(t, err)
		for i, f := range fields {
			if f.Label == "amount" {
				fields[i] = ledger.F("amount", ledger.Numeric("forty"))
				malformed = true
			}
		}
		var idp *ledger.Identifier
		if id, ok := view.TypeID(); ok {
			idp = &id
		}
		c.InterfaceViews[0].Value = ledger.Record(idp, fields...)
	}
	require.True(t, malformed, "the mint has no holding view with an amount")
	txs, err := p.Append(w.Mint(demoParty, "10"), w.Mint(demoParty, "20"), bad, w.Mint(demoParty, "30"))
	require.NoError(t, err)
	poison := txs[2]

	dsn, db := emptyDB(t)
	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: dsn, "TXHISTORY_PLAINTEXT": "true"}
	logs := &syncbuf.Buffer{}
	code, _ := runDaemon([]string{"-metrics-addr", "127.0.0.1:0", "-progress", "100ms"}, env, logs, make(chan os.Signal, 1))
	c, msg := stoppedBy(t, code, logs)
	require.Equal(t, 1, c, logs.String())
	require.Contains(t, msg, poison.UpdateID, "the error does not name the transaction")
	require.Contains(t, msg, "malformed numeric")
	require.Contains(t, msg, "-poison set-aside", "the error does not say how to go on past the transaction")
	require.Contains(t, msg, "restart")

	logs = &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, ready := runDaemon([]string{"-metrics-addr", "127.0.0.1:0", "-progress", "100ms", "-poison", "set-aside"}, env, logs, sigs)
	waitReady(t, code, ready, logs)
	waitIngested(t, db, p, logs)
	var aside []string
	require.NoError(t, db.Select(&aside, `SELECT update_id FROM txhistory.review_transaction`))
	require.Equal(t, []string{poison.UpdateID}, aside)
	sigs <- os.Interrupt
	require.Equal(t, 0, <-code, logs.String())
	require.NotContains(t, logs.String(), "-poison set-aside", "a hint logged while nothing halted")
}

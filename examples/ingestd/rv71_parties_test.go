package main

import (
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// A schema ingested for another party than -party: ingestd stops with
// ingest.ErrPartiesChanged, naming its flag; -accept-parties-change (or
// $TXHISTORY_ACCEPT_PARTIES_CHANGE) goes on and records -party.
func TestAcceptPartiesChange(t *testing.T) {
	base := map[string]string{conn.EnvLedger: "validator:5001", conn.EnvParty: "treasury::1", conn.EnvDSN: "postgres://u:pw@db/x"}
	c, err := parseConfig(nil, envOf(base), io.Discard)
	require.NoError(t, err)
	require.False(t, c.acceptPartiesChange)
	base["TXHISTORY_ACCEPT_PARTIES_CHANGE"] = "true"
	c, err = parseConfig(nil, envOf(base), io.Discard)
	require.NoError(t, err)
	require.True(t, c.acceptPartiesChange)

	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	_, err = p.Append(demoTxs(demoParty, 0, 20)...)
	require.NoError(t, err)
	dsn := pgtest.NewDSN(t)
	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: dsn, "TXHISTORY_PLAINTEXT": "true"}
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	defer db.Close()
	// recorded waits until the checkpoint records demoParty alone and
	// reached the ledger end, then stops the daemon.
	recorded := func(code <-chan int, logs *syncbuf.Buffer, sigs chan os.Signal) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			var parties pq.StringArray
			var off int64
			_ = db.QueryRow(`SELECT parties, ledger_offset FROM txhistory.checkpoint`).Scan(&parties, &off)
			if len(parties) == 1 && parties[0] == demoParty && off >= p.LedgerEnd() {
				break
			}
			select {
			case c := <-code:
				t.Fatalf("ingestd exited %d:\n%s", c, logs.String())
			case <-deadline:
				t.Fatalf("parties %q, offset %d after 30 s:\n%s", parties, off, logs.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
		sigs <- syscall.SIGTERM
		require.Equal(t, 0, <-code, logs.String())
	}
	sigs := make(chan os.Signal, 1)
	logs := &syncbuf.Buffer{}
	code, _ := runDaemon([]string{"-metrics-addr", ""}, env, logs, sigs)
	recorded(code, logs, sigs)
	_, err = db.Exec(`UPDATE txhistory.checkpoint SET parties = '{other::1220}'`) // ingested for another party
	require.NoError(t, err)

	logs = &syncbuf.Buffer{}
	code, _ = runDaemon([]string{"-metrics-addr", ""}, env, logs, sigs)
	exit, msg := stoppedBy(t, code, logs)
	require.Equal(t, 1, exit, logs.String())
	require.Contains(t, msg, "Config.Parties differ from the parties the Integration DB was ingested for")
	require.Contains(t, msg, "-accept-parties-change")

	logs = &syncbuf.Buffer{}
	code, _ = runDaemon([]string{"-metrics-addr", "", "-accept-parties-change"}, env, logs, sigs)
	recorded(code, logs, sigs)
}

package main

import (
	"os"
	"syscall"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/require"
)

const emptyInstrumentsWarning = `"msg":"ingestd: -instruments is empty`

// The warning that -instruments is empty is for a deployment: given without
// the list it is logged, with it not, and the demo, which drops the host's
// -instruments itself and books no token standard data, does not tell its
// user to list instruments it would not use.
func TestEmptyInstrumentsWarning(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	_, err = p.Append(demoTxs(demoParty, 0, 5)...)
	require.NoError(t, err)
	for _, tc := range []struct {
		name        string
		args        []string
		instruments string
		warns       bool
	}{
		{"deployment without -instruments", nil, "", true},
		{"deployment with -instruments", nil, "Amulet@DSO::1220d50", false},
		{"demo", []string{"-demo", "-demo-backlog", "10"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: pgtest.NewDSN(t),
				"TXHISTORY_PLAINTEXT": "true"}
			if tc.instruments != "" {
				env["TXHISTORY_INSTRUMENTS"] = tc.instruments
			}
			logs := &syncbuf.Buffer{}
			sigs := make(chan os.Signal, 1)
			code, ready := runDaemon(append([]string{"-metrics-addr", "127.0.0.1:0"}, tc.args...), env, logs, sigs)
			waitReady(t, code, ready, logs)
			sigs <- syscall.SIGTERM
			require.Equal(t, 0, <-code, logs.String())
			if tc.warns {
				require.Contains(t, logs.String(), emptyInstrumentsWarning)
			} else {
				require.NotContains(t, logs.String(), emptyInstrumentsWarning)
			}
		})
	}
}

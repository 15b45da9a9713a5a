package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A participant refusing the runbook's token: the error names where the
// token came from ($TXHISTORY_TOKEN, -token-file, or none configured), as
// ingestd's does, so that the operator knows what to renew before running
// it again. The refusal comes from the participant; the runbook's own
// settings are fine (exit 1, not 2).
func TestRefusedTokenNamesItsSetting(t *testing.T) {
	p, dsn := tokenRig(t)
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte("stale-from-the-file"), 0o600))

	base := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvAdmin: p.AdminAddr(), conn.EnvParty: treasury, conn.EnvDSN: dsn, "TXHISTORY_PLAINTEXT": "true"}
	with := func(k, v string) func(string) string {
		m := map[string]string{k: v}
		for k, v := range base {
			m[k] = v
		}
		return envOf(m)
	}
	for _, c := range []struct {
		name string
		args []string
		env  func(string) string
		want string
	}{
		{"variable", nil, with(conn.EnvToken, "expired"), "$" + conn.EnvToken},
		{"file", []string{"-token-file", file}, envOf(base), "-token-file " + file},
		{"none", nil, envOf(base), "none is configured"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			require.Equal(t, 1, run(append([]string{"-poll", "10ms", "-timeout", "5s", "-mode", "unique"}, c.args...), c.env, &out, &errOut), "out:\n%s\nerr:\n%s", out.String(), errOut.String())
			require.Contains(t, errOut.String(), c.want, errOut.String())
			require.NotContains(t, errOut.String(), "expired\"", "the token itself reached the output")
			require.NotContains(t, errOut.String(), "stale-from-the-file")
		})
	}
}

// tokenRig starts a participant that takes only the token "the-right-one"
// on both APIs and an Integration DB whose checkpoint names an ingested
// transaction, so that the runbook's first look-up asks the participant.
func tokenRig(t *testing.T) (*ledgertest.Participant, string) {
	t.Helper()
	p, err := ledgertest.New(ledgertest.WithSeparateAdmin(), ledgertest.WithToken("the-right-one"))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	dsn := pgtest.NewDSN(t)
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	require.NoError(t, schema.Migrate(ctx, db))
	cps, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	_, err = cps.Init(ctx, db, 0, treasury)
	require.NoError(t, err)
	tx, err := db.Beginx()
	require.NoError(t, err)
	require.NoError(t, cps.AdvanceTx(ctx, tx, 0, checkpoint.Checkpoint{Offset: 3, UpdateID: "u-2", UpdateOffset: 3,
		RecordTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), SynchronizerID: ledgertest.DefaultSynchronizer}))
	require.NoError(t, tx.Commit())
	return p, dsn
}

package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/schema"
)

// TestRV187RolledBackBinaryWithMigrateSaysHowToMigrateDown: an exchange
// rolls a bad release back by redeploying the older image, with its
// default -migrate (or runs the older -migrate-only job), and forgets to
// migrate the schema down with the newer release first. The older ingestd
// refuses the newer schema, as it must; its message must give the command
// that fixes it, with the version to migrate down to, as it does with
// -migrate=false ("with that release: ingestd -migrate-only -migrate-to N"),
// not only "migrating its schema down first", which leaves the operator to
// find N and the flags during an incident.
func TestRV187RolledBackBinaryWithMigrateSaysHowToMigrateDown(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		to   int // the version the hint names
	}{
		{"daemon", []string{"-schema", "cold"}, schema.Latest()},
		{"migrate-only", []string{"-schema", "cold", "-migrate-only"}, schema.Latest()},
		// Going down itself: the version it was asked for.
		{"migrate-only-to", []string{"-schema", "cold", "-migrate-only", "-migrate-to", "3"}, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := fmt.Sprintf("with that release: ingestd -migrate-only -schema cold -migrate-to %d", c.to)
			dsn, db := emptyDB(t)
			migratedByANewerRelease(t, db, "cold")

			env := map[string]string{conn.EnvLedger: "127.0.0.1:1", conn.EnvParty: "treasury::1", conn.EnvDSN: dsn,
				"TXHISTORY_PLAINTEXT": "true", "TXHISTORY_METRICS_ADDR": ""}
			logs := &syncbuf.Buffer{}
			sigs := make(chan os.Signal, 1)
			code, _ := runDaemon(c.args, env, logs, sigs)
			requireRefusal(t, code, sigs, logs, want, "a newer schema")
		})
	}
}

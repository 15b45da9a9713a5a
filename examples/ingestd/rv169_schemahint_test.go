package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/schema"
)

// TestSchemaVersionHintsNameTheSchema: with -migrate=false, the command
// ingestd's refusal tells the operator to run migrates the daemon's own
// schema: pasted as printed, "ingestd -migrate-only" without -schema would
// migrate the default schema and leave the daemon's unmigrated. The schema
// is named whether it came from -schema or $TXHISTORY_SCHEMA (a migration
// job need not share the daemon's environment), and not for the default.
func TestSchemaVersionHintsNameTheSchema(t *testing.T) {
	for _, c := range []struct {
		name, schema  string
		args          []string
		env           map[string]string
		behind, newer string
	}{
		{"flag", "cold", []string{"-schema", "cold"}, nil,
			"run ingestd -migrate-only -schema cold (as the owner role) first",
			fmt.Sprintf("with that release: ingestd -migrate-only -schema cold -migrate-to %d", schema.Latest())},
		{"env", "hot", nil, map[string]string{conn.EnvSchema: "hot"},
			"run ingestd -migrate-only -schema hot (as the owner role) first",
			fmt.Sprintf("with that release: ingestd -migrate-only -schema hot -migrate-to %d", schema.Latest())},
		{"default", schema.DefaultName, nil, nil,
			"run ingestd -migrate-only (as the owner role) first",
			fmt.Sprintf("with that release: ingestd -migrate-only -migrate-to %d", schema.Latest())},
	} {
		for _, newer := range []bool{false, true} {
			name, want := c.name+"/behind", c.behind
			if newer {
				name, want = c.name+"/newer", c.newer
			}
			t.Run(name, func(t *testing.T) {
				dsn, db := emptyDB(t)
				if newer {
					migratedByANewerRelease(t, db, c.schema)
				}
				env := map[string]string{conn.EnvLedger: "127.0.0.1:1", conn.EnvParty: "treasury::1", conn.EnvDSN: dsn,
					"TXHISTORY_PLAINTEXT": "true", "TXHISTORY_METRICS_ADDR": "", "TXHISTORY_MIGRATE": "false"}
				for k, v := range c.env {
					env[k] = v
				}
				logs := &syncbuf.Buffer{}
				sigs := make(chan os.Signal, 1)
				code, _ := runDaemon(c.args, env, logs, sigs)
				requireRefusal(t, code, sigs, logs, want, "schema "+c.schema)
			})
		}
	}
}

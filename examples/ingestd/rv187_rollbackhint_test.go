package main

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
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
			dsn := pgtest.NewDSN(t)
			db, err := sqlx.Open("postgres", dsn)
			require.NoError(t, err)
			defer db.Close()
			require.NoError(t, schema.Migrate(context.Background(), db, schema.WithSchema("cold")))
			_, err = db.Exec(`INSERT INTO cold.txhistory_migration (version, name) VALUES ($1, 'from_a_newer_release')`, schema.Latest()+1)
			require.NoError(t, err)

			env := map[string]string{conn.EnvLedger: "127.0.0.1:1", conn.EnvParty: "treasury::1", conn.EnvDSN: dsn,
				"TXHISTORY_PLAINTEXT": "true", "TXHISTORY_METRICS_ADDR": ""}
			logs := &syncbuf.Buffer{}
			sigs := make(chan os.Signal, 1)
			code, _ := runDaemon(c.args, env, logs, sigs)
			select {
			case got := <-code:
				require.Equal(t, 1, got, logs.String())
				require.Contains(t, logs.String(), want)
			case <-time.After(10 * time.Second):
				sigs <- syscall.SIGTERM
				<-code
				t.Fatalf("ingestd ran on a newer schema:\n%s", logs.String())
			}
		})
	}
}

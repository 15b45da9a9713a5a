// Package exampledb opens the Integration DB of the example programs: the
// database named by -dsn, or a throwaway PostgreSQL started from the
// installed server binaries.
package exampledb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"regexp"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq" // the PostgreSQL driver
)

// Open connects to dsn or, when dsn is empty, starts a local PostgreSQL
// (announced on out) and connects to it, naming its sessions app (see Pool). It returns the pool, the
// connection string it used (for client programs such as pg_dump), and a
// function that closes the pool and stops that server, removing its data.
func Open(ctx context.Context, dsn, app string, out io.Writer) (*sqlx.DB, string, func(), error) {
	stop := func() {}
	if dsn != "" {
		if _, err := pq.NewConnector(dsn); err != nil {
			if err := EnvRefusal(); err != nil {
				return nil, "", nil, err
			}
			// lib/pq's message may quote a piece of the password (a URL
			// whose password holds an unencoded "/", "#" or "?"), which
			// ingest.Redact cannot find: withhold it, as ingestd does.
			return nil, "", nil, errors.New("-dsn is not a PostgreSQL connection string that lib/pq accepts (its message is withheld: it may quote the password; percent-encode special characters in a URL's password)")
		}
	}
	if dsn == "" {
		srv, err := pgtest.StartServer(ctx, pgtest.ServerOptions{})
		if err != nil {
			return nil, "", nil, fmt.Errorf("start local PostgreSQL (install the server binaries or pass -dsn): %w", err)
		}
		stop = func() { srv.Close() }
		dsn = srv.DSN("postgres")
		fmt.Fprintf(out, "local PostgreSQL on 127.0.0.1:%d (data in %s, removed on exit)\n", srv.Port(), srv.Dir())
	}
	db, err := Pool(dsn, app)
	if err != nil {
		stop()
		return nil, "", nil, err
	}
	return db, dsn, func() { db.Close(); stop() }, nil
}

// Pool opens a pool on dsn whose sessions show app as their
// application_name (in pg_stat_activity, and in the server's log lines
// that print %a), so that an operator can tell the example's sessions, and
// the locks they hold, from the exchange's own. An application_name in the
// DSN, or in $PGAPPNAME, is kept. Like lib/pq, it reads $PGAPPNAME and the
// other PG* variables once, here.
func Pool(dsn, app string) (*sqlx.DB, error) {
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		if err := EnvRefusal(); err != nil {
			return nil, err
		}
		// Its message may quote a piece of the password: see Open.
		return nil, errors.New("the DSN is not a PostgreSQL connection string that lib/pq accepts (its message is withheld: it may quote the password)")
	}
	if cfg.ApplicationName == "" {
		cfg.ApplicationName = app
	}
	c, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, err
	}
	return sqlx.NewDb(sql.OpenDB(c), "postgres"), nil
}

// envRefused is lib/pq's refusal of a libpq variable it does not support
// (PGGSSENCMODE, PGCHANNELBINDING, PGREQUIREAUTH, PGSSLCRL, …): it names
// the variable and quotes no value.
var envRefused = regexp.MustCompile(`environment variable \$[A-Z0-9_]+ is not supported( as Kerberos is not enabled)?`)

// EnvRefusal is nil if lib/pq accepts this process's PG* environment
// variables, or else the error to show instead of blaming the DSN: lib/pq
// reads them for every connection string and refuses them all while one
// is not acceptable (PGGSSENCMODE=disable, a common setting for psql, is
// one it does not support). A variable it does not support is named;
// another refusal's message is withheld, as the DSN's is (a service file
// that $PGSERVICE names may hold a password).
func EnvRefusal() error {
	_, err := pq.NewConfig("")
	if err == nil {
		return nil
	}
	if m := envRefused.FindString(err.Error()); m != "" {
		return fmt.Errorf("lib/pq refuses this environment, not the DSN: %s (a libpq setting lib/pq lacks): unset it for this program", m)
	}
	return errors.New("lib/pq refuses this environment's PG* variables (or the service file $PGSERVICE names), not the DSN (its message is withheld: it may quote a secret)")
}

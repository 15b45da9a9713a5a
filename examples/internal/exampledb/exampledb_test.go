package exampledb_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/exampledb"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// appName opens a pool with Pool and returns the application_name its
// session shows in pg_stat_activity.
func appName(t *testing.T, dsn, app string) string {
	t.Helper()
	db, err := exampledb.Pool(dsn, app)
	require.NoError(t, err)
	defer db.Close()
	var got string
	require.NoError(t, db.Get(&got, `SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()`))
	return got
}

// TestPoolNamesItsSessions: an operator looking at pg_stat_activity (or at
// who holds an advisory lock) sees which example's sessions they are,
// unless the DSN or $PGAPPNAME already names them.
func TestPoolNamesItsSessions(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	t.Setenv("PGAPPNAME", "")
	require.Equal(t, "txhistory-test", appName(t, dsn, "txhistory-test"))
	require.Equal(t, "exchange-ingest", appName(t, withAppName(dsn, "exchange-ingest"), "txhistory-test"))

	t.Setenv("PGAPPNAME", "from-env")
	require.Equal(t, "from-env", appName(t, dsn, "txhistory-test"))
}

// TestPoolWithholdsAMalformedDSN: lib/pq's message may quote a piece of
// the password; Pool's does not.
func TestPoolWithholdsAMalformedDSN(t *testing.T) {
	_, err := exampledb.Pool("postgres://u:se/cr?et@host/db", "txhistory-test")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "se/cr")
	require.NotContains(t, err.Error(), "et@")
	require.Contains(t, err.Error(), "withheld")
}

// withAppName adds application_name=name to dsn, a URL or key=value pairs.
func withAppName(dsn, name string) string {
	if !strings.Contains(dsn, "://") {
		return dsn + " application_name=" + name
	}
	if strings.Contains(dsn, "?") {
		return dsn + "&application_name=" + name
	}
	return dsn + "?application_name=" + name
}

// TestPoolNamesAnUnsupportedPGVariable: an unsupported libpq variable in
// the environment (PGGSSENCMODE=disable) makes lib/pq refuse every DSN;
// the refusal names it instead of blaming the DSN with the message
// withheld.
func TestPoolNamesAnUnsupportedPGVariable(t *testing.T) {
	t.Setenv("PGGSSENCMODE", "disable")
	for _, open := range []func() error{
		func() error { _, err := exampledb.Pool("postgres://u:pw-S3CRET@host/db", "txhistory-test"); return err },
		func() error {
			_, _, _, err := exampledb.Open(context.Background(), "postgres://u:pw-S3CRET@host/db", "txhistory-test", io.Discard)
			return err
		},
	} {
		err := open()
		require.Error(t, err)
		require.Contains(t, err.Error(), "PGGSSENCMODE")
		require.NotContains(t, err.Error(), "not a PostgreSQL connection string")
		require.NotContains(t, err.Error(), "pw-S3CRET")
	}
}

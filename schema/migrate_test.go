package schema_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
)

// coreTables are the tables of migration 001, plus the bookkeeping table.
// Later migrations add the tables of other packages; tests of the latest
// version check that these are among them.
var coreTables = []string{"checkpoint", "checkpoint_rewind", "ingested_update", "review_transaction", "synchronizer_time", "txhistory_migration"}

// hasCore reports whether got includes every core table.
func hasCore(got []string) bool {
	for _, c := range coreTables {
		if !slices.Contains(got, c) {
			return false
		}
	}
	return true
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("FreshDatabaseGetsCoreTablesInDefaultSchema", func(t *testing.T) {
		t.Parallel()
		db := pgtest.NewDB(t)

		must(t, schema.Migrate(ctx, db))

		if got := tablesIn(t, db, schema.DefaultName); !hasCore(got) {
			t.Fatalf("tables in %q: got %v, want %v", schema.DefaultName, got, coreTables)
		}
		if got := tablesIn(t, db, "public"); len(got) != 0 {
			t.Fatalf("migration leaked tables into public: %v", got)
		}
		var method string
		mustGet(t, db, &method, `SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam
			WHERE c.oid = to_regclass('txhistory.ingested_update_record_time_brin')`)
		if method != "brin" {
			t.Fatalf("ingested_update_record_time_brin: access method %q, want brin", method)
		}
		var old bool
		mustGet(t, db, &old, `SELECT to_regclass('txhistory.ingested_update_record_time_idx') IS NOT NULL`)
		if old {
			t.Fatal("ingested_update_record_time_idx still there after 005")
		}
		var kindIdx bool
		mustGet(t, db, &kindIdx, `SELECT to_regclass('txhistory.token_history_kind_idx') IS NOT NULL`)
		if kindIdx {
			t.Fatal("token_history_kind_idx still there after 006")
		}

		versions, err := schema.Versions(ctx, db)
		must(t, err)
		if len(versions) != schema.Latest() || versions[0].Version != 1 || versions[0].Name != "core" || versions[0].AppliedAt.IsZero() {
			t.Fatalf("Versions = %+v, want every version, starting with 001 core", versions)
		}
		if schema.Latest() < 1 {
			t.Fatalf("Latest() = %d, want at least 1", schema.Latest())
		}

		// The tables take the writes the ingester will do.
		mustExec(t, db, `INSERT INTO `+schema.Qualify(schema.DefaultName, "checkpoint")+` (ledger_offset) VALUES (42)`)
		mustExec(t, db, `INSERT INTO `+schema.Qualify(schema.DefaultName, "checkpoint_rewind")+` (from_offset, to_offset, mode) VALUES (42, 40, 'manual')`)
		if _, err := db.ExecContext(ctx, `INSERT INTO txhistory.checkpoint (id, ledger_offset) VALUES (2, 0)`); err == nil {
			t.Fatal("checkpoint accepted a second row")
		}
	})

	t.Run("SecondRunIsNoOp", func(t *testing.T) {
		t.Parallel()
		db := pgtest.NewDB(t)

		must(t, schema.Migrate(ctx, db))
		before, err := schema.Versions(ctx, db)
		must(t, err)
		mustExec(t, db, `INSERT INTO txhistory.checkpoint (ledger_offset) VALUES (7)`)

		must(t, schema.Migrate(ctx, db))
		after, err := schema.Versions(ctx, db)
		must(t, err)
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("versions changed on second run: %+v -> %+v", before, after)
		}
		var offset int64
		mustGet(t, db, &offset, `SELECT ledger_offset FROM txhistory.checkpoint`)
		if offset != 7 {
			t.Fatalf("data changed on second run: offset %d", offset)
		}
	})

	t.Run("TwoSchemasInOneDatabaseAreIndependent", func(t *testing.T) {
		t.Parallel()
		db := pgtest.NewDB(t)

		must(t, schema.Migrate(ctx, db, schema.WithSchema("alpha")))
		must(t, schema.Migrate(ctx, db, schema.WithSchema("beta")))
		for _, name := range []string{"alpha", "beta"} {
			if got := tablesIn(t, db, name); !hasCore(got) {
				t.Fatalf("tables in %q: got %v, want %v", name, got, coreTables)
			}
		}
		if got := tablesIn(t, db, schema.DefaultName); len(got) != 0 {
			t.Fatalf("default schema touched: %v", got)
		}

		mustExec(t, db, `INSERT INTO alpha.checkpoint (ledger_offset) VALUES (1)`)
		var n int
		mustGet(t, db, &n, `SELECT count(*) FROM beta.checkpoint`)
		if n != 0 {
			t.Fatal("row written to alpha is visible in beta")
		}

		must(t, schema.Migrate(ctx, db, schema.WithSchema("alpha"), schema.WithTargetVersion(0)))
		if got := tablesIn(t, db, "beta"); !hasCore(got) {
			t.Fatalf("migrating alpha down changed beta: %v", got)
		}
	})

	t.Run("ConcurrentMigratorsAllSucceedOnce", func(t *testing.T) {
		t.Parallel()
		db := pgtest.NewDB(t)

		migrateConcurrently(t, db, "race")

		versions, err := schema.Versions(ctx, db, schema.WithSchema("race"))
		must(t, err)
		if len(versions) != schema.Latest() {
			t.Fatalf("Versions = %+v, want each version once", versions)
		}
		if got := tablesIn(t, db, "race"); !hasCore(got) {
			t.Fatalf("tables: got %v, want %v", got, coreTables)
		}
	})

	t.Run("DownToZeroDropsTablesAndUpRestoresThem", func(t *testing.T) {
		t.Parallel()
		db := pgtest.NewDB(t)

		must(t, schema.Migrate(ctx, db))
		mustExec(t, db, `INSERT INTO txhistory.checkpoint (ledger_offset) VALUES (3)`)

		must(t, schema.Migrate(ctx, db, schema.WithTargetVersion(0)))
		if got := tablesIn(t, db, schema.DefaultName); !slices.Equal(got, []string{"txhistory_migration"}) {
			t.Fatalf("after migrating to 0: tables %v, want only txhistory_migration", got)
		}
		versions, err := schema.Versions(ctx, db)
		must(t, err)
		if len(versions) != 0 {
			t.Fatalf("after migrating to 0: Versions = %+v, want none", versions)
		}

		// Going down again is a no-op, going up starts from scratch.
		must(t, schema.Migrate(ctx, db, schema.WithTargetVersion(0)))
		must(t, schema.Migrate(ctx, db, schema.WithTargetVersion(schema.Latest())))
		var n int
		mustGet(t, db, &n, `SELECT count(*) FROM txhistory.checkpoint`)
		if n != 0 {
			t.Fatalf("checkpoint has %d rows after down and up, want 0", n)
		}
	})

	t.Run("VersionsOfUnmigratedSchemaIsEmpty", func(t *testing.T) {
		t.Parallel()
		db := pgtest.NewDB(t)
		versions, err := schema.Versions(ctx, db, schema.WithSchema("never"))
		if err != nil || len(versions) != 0 {
			t.Fatalf("Versions = %+v, %v; want none, nil", versions, err)
		}
	})

	t.Run("FailingMigrationNamesFileAndRollsBack", func(t *testing.T) {
		t.Parallel()
		db := pgtest.NewDB(t)
		mustExec(t, db, `CREATE SCHEMA clash`)
		mustExec(t, db, `CREATE TABLE clash.ingested_update (x int)`)

		err := schema.Migrate(ctx, db, schema.WithSchema("clash"))
		if err == nil {
			t.Fatal("Migrate over a conflicting table succeeded")
		}
		for _, want := range []string{"001", "001_core.up.sql", `"clash"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %s", err, want)
			}
		}
		var pqErr *pq.Error
		if !errors.As(err, &pqErr) || pqErr.Code != "42P07" { // duplicate_table
			t.Errorf("error does not wrap the driver's duplicate_table error: %#v", err)
		}
		if got := tablesIn(t, db, "clash"); !slices.Equal(got, []string{"ingested_update"}) {
			t.Fatalf("failed migration left tables behind: %v", got)
		}
	})

	t.Run("UnknownNewerVersion", func(t *testing.T) {
		t.Parallel()
		db := pgtest.NewDB(t)
		must(t, schema.Migrate(ctx, db))
		// As if a newer release had applied a migration this build lacks.
		mustExec(t, db, `INSERT INTO txhistory.txhistory_migration (version, name) VALUES (999, 'future')`)

		// An older build refuses the schema, not only a way down past it.
		if err := schema.Migrate(ctx, db); !errors.Is(err, schema.ErrUnknownVersion) {
			t.Fatalf("migrating up a schema with an unknown version: got %v, want ErrUnknownVersion", err)
		}

		err := schema.Migrate(ctx, db, schema.WithTargetVersion(0))
		if !errors.Is(err, schema.ErrUnknownVersion) || !strings.Contains(err.Error(), "999") {
			t.Fatalf("migrating down past an unknown version: got %v, want ErrUnknownVersion naming 999", err)
		}
		if got := tablesIn(t, db, schema.DefaultName); !hasCore(got) {
			t.Fatalf("refused down migration changed tables: %v", got)
		}
	})

	t.Run("TargetOutOfRange", func(t *testing.T) {
		t.Parallel()
		for _, v := range []int{-1, schema.Latest() + 1} {
			// Rejected before the database is touched, so no db is needed.
			if err := schema.Migrate(ctx, nil, schema.WithTargetVersion(v)); err == nil || !strings.Contains(err.Error(), "out of range") {
				t.Errorf("WithTargetVersion(%d): got %v, want out of range", v, err)
			}
		}
	})
}

func TestMigrateTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("RollsBackWithCallerAndRestoresSearchPath", func(t *testing.T) {
		t.Parallel()
		db := pgtest.NewDB(t)

		tx, err := db.BeginTxx(ctx, nil)
		must(t, err)
		defer tx.Rollback()
		mustExec(t, tx, `SET LOCAL search_path TO public`)
		must(t, schema.MigrateTx(ctx, tx, schema.WithSchema("app_tx")))

		var path string
		mustGet(t, tx, &path, `SHOW search_path`)
		if path != "public" {
			t.Fatalf("search_path after MigrateTx = %q, want the caller's %q", path, "public")
		}
		versions, err := schema.Versions(ctx, tx, schema.WithSchema("app_tx"))
		must(t, err)
		if len(versions) != schema.Latest() {
			t.Fatalf("inside the transaction: Versions = %+v, want all", versions)
		}
		must(t, tx.Rollback())

		var exists bool
		mustGet(t, db, &exists, `SELECT to_regnamespace('app_tx') IS NOT NULL`)
		if exists {
			t.Fatal("schema survived the caller's rollback")
		}
	})

	t.Run("CommitsWithCaller", func(t *testing.T) {
		t.Parallel()
		db := pgtest.NewDB(t)

		tx, err := db.BeginTxx(ctx, nil)
		must(t, err)
		defer tx.Rollback()
		must(t, schema.MigrateTx(ctx, tx))
		mustExec(t, tx, `INSERT INTO txhistory.checkpoint (ledger_offset) VALUES (5)`)
		must(t, tx.Commit())

		var offset int64
		mustGet(t, db, &offset, `SELECT ledger_offset FROM txhistory.checkpoint`)
		if offset != 5 {
			t.Fatalf("offset = %d, want 5", offset)
		}
	})

	t.Run("PrecreatedSchemaNeedsNoCreatePrivilege", func(t *testing.T) {
		t.Parallel()
		db := pgtest.NewDB(t)
		role := "txh_test_" + randomHex(t)
		if _, err := db.ExecContext(ctx, `CREATE ROLE `+role); err != nil {
			t.Skipf("cannot create a role on this server: %v", err)
		}
		t.Cleanup(func() {
			// Roles are cluster-wide; the database is dropped after this.
			_, _ = db.Exec(`DROP OWNED BY ` + role)
			_, _ = db.Exec(`DROP ROLE ` + role)
		})
		// What a DBA would do for an application role without CREATE on
		// the database.
		mustExec(t, db, `CREATE SCHEMA owned AUTHORIZATION `+role)

		migrateAs := func(opts ...schema.Option) error {
			tx, err := db.BeginTxx(ctx, nil)
			must(t, err)
			defer tx.Rollback()
			mustExec(t, tx, `SET LOCAL ROLE `+role)
			if err := schema.MigrateTx(ctx, tx, opts...); err != nil {
				return err
			}
			return tx.Commit()
		}
		must(t, migrateAs(schema.WithSchema("owned")))
		if got := tablesIn(t, db, "owned"); !hasCore(got) {
			t.Fatalf("tables: got %v, want %v", got, coreTables)
		}
		if err := migrateAs(schema.WithSchema("not_owned")); err == nil || !strings.Contains(err.Error(), `creating schema "not_owned"`) {
			t.Fatalf("creating a schema without privilege: got %v, want a creating schema error", err)
		}
	})
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	valid := []string{"txhistory", "a", "_", "_x9", "tx_history_2", strings.Repeat("a", 63)}
	for _, name := range valid {
		if err := schema.ValidateName(name); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", name, err)
		}
	}

	invalid := []struct{ name, reason string }{
		{"x; DROP", "only lower-case"},
		{"x; DROP SCHEMA public CASCADE; --", "only lower-case"},
		{"A", "only lower-case"},
		{"txHistory", "only lower-case"},
		{"", "empty"},
		{strings.Repeat("a", 64), "64 bytes"},
		{"1abc", "digit"},
		{"a-b", "only lower-case"},
		{"a b", "only lower-case"},
		{`"quoted"`, "only lower-case"},
		{"ünïcode", "only lower-case"},
		{"pg_temp", "reserved"},
	}
	for _, c := range invalid {
		err := schema.ValidateName(c.name)
		if err == nil {
			t.Errorf("ValidateName(%q) = nil, want an error", c.name)
			continue
		}
		prefix := fmt.Sprintf("schema: invalid schema name %q: ", c.name)
		if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("ValidateName(%q) = %q, want %q... mentioning %q", c.name, err, prefix, c.reason)
		}
		var nameErr *schema.NameError
		if !errors.As(err, &nameErr) || nameErr.Name != c.name {
			t.Errorf("ValidateName(%q): error %#v is not a *NameError for that name", c.name, err)
		}
		// Every entry point refuses it before touching the database.
		if err := schema.Migrate(context.Background(), nil, schema.WithSchema(c.name)); !errors.As(err, &nameErr) {
			t.Errorf("Migrate with schema %q: got %v, want a *NameError", c.name, err)
		}
		if _, err := schema.Versions(context.Background(), nil, schema.WithSchema(c.name)); !errors.As(err, &nameErr) {
			t.Errorf("Versions with schema %q: got %v, want a *NameError", c.name, err)
		}
	}
}

func TestQualify(t *testing.T) {
	t.Parallel()
	cases := []struct{ schema, table, want string }{
		{"txhistory", "checkpoint", `"txhistory"."checkpoint"`},
		{"My Schema", `odd"table`, `"My Schema"."odd""table"`},
	}
	for _, c := range cases {
		if got := schema.Qualify(c.schema, c.table); got != c.want {
			t.Errorf("Qualify(%q, %q) = %s, want %s", c.schema, c.table, got, c.want)
		}
	}
}

func tablesIn(t *testing.T, db sqlx.QueryerContext, schemaName string) []string {
	t.Helper()
	var names []string
	err := sqlx.SelectContext(context.Background(), db, &names,
		`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, schemaName)
	must(t, err)
	return names
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustExec(t *testing.T, db sqlx.ExecerContext, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func mustGet(t *testing.T, db sqlx.QueryerContext, dest any, query string, args ...any) {
	t.Helper()
	if err := sqlx.GetContext(context.Background(), db, dest, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func randomHex(t *testing.T) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// migrateConcurrently runs four Migrate calls for schemaName at once and
// fails the test if any fails.
func migrateConcurrently(t *testing.T, db *sqlx.DB, schemaName string) {
	t.Helper()
	const migrators = 4
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make(chan error, migrators)
	)
	for range migrators {
		wg.Go(func() {
			<-start
			errs <- schema.Migrate(context.Background(), db, schema.WithSchema(schemaName))
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
}

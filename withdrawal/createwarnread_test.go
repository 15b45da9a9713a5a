package withdrawal_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// The exchange's withdrawal API connects with a role of its own that may
// write the withdrawal tables but not read the ingestion's checkpoint
// (least privilege). Before a705cd0 Create never read the checkpoint, and
// worked. Its warning about a request naming a synchronizer with no record
// time ingested reads it inside the Create's transaction; "a failed read of
// the checkpoint only skips the warning", says the comment, but in
// PostgreSQL a failed statement aborts the transaction: the Create fails
// ("current transaction is aborted"), and with CreateTx the exchange's own
// transaction with it.
func TestCreateWarningReadFailureDoesNotFailTheCreate(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	ctx, admin := e.ctx, e.db
	cids := e.mint("10")
	e.tick(e.world.Now())
	var dbname string
	require.NoError(t, admin.GetContext(ctx, &dbname, `SELECT current_database()`))
	dsn := pgtest.SharedServer(t).DSN(dbname)

	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	role := "wd_api_" + hex.EncodeToString(rnd[:])
	s := schema.DefaultName
	for _, q := range []string{
		`CREATE ROLE ` + role + ` LOGIN PASSWORD ` + pq.QuoteLiteral(role),
		`GRANT USAGE ON SCHEMA ` + s + `, public TO ` + role,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ` + s + ` TO ` + role,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ` + role,
		`REVOKE ALL ON ` + s + `.checkpoint, ` + s + `.synchronizer_time FROM ` + role,
	} {
		_, err := admin.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = admin.ExecContext(ctx, `DROP OWNED BY `+role)
		_, _ = admin.ExecContext(ctx, `DROP ROLE IF EXISTS `+role)
	})

	var apiDSN string
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		u.User = url.UserPassword(role, role)
		apiDSN = u.String()
	} else {
		apiDSN = dsn + " user=" + role + " password=" + role
	}
	api, err := sqlx.Open("postgres", apiDSN)
	require.NoError(t, err)
	defer api.Close()
	store, err := withdrawal.NewStore(api, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)

	// The role cannot read the checkpoint: the warning's read fails.
	var n int
	err = api.GetContext(ctx, &n, `SELECT count(*) FROM `+s+`.checkpoint`)
	var pe *pq.Error
	require.ErrorAs(t, err, &pe, "the API role can read the checkpoint: the warning's read cannot fail, nothing is tested")
	require.Equal(t, pq.ErrorCode("42501"), pe.Code, "insufficient_privilege")

	r := e.request("wd-1", "5", cids[0])
	r.SynchronizerID = "global::1220"
	_, err = store.Create(ctx, r)
	require.NoError(t, err, "the warning's read of the checkpoint failed the Create")
	w := e.get("wd-1") // read by the admin: committed
	require.Equal(t, withdrawal.StatusRequested, w.Status)
	require.Equal(t, "global::1220", w.SynchronizerID)
}

package withdrawal_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A rolling upgrade: a newer release has migrated the schema while this
// release's processes still run, the exchange's API servers among them.
// The Ingester and the Automation stop writing; the Store's writers an
// exchange calls itself (Create from its API servers, MarkFailed, opening
// the gate, ApplyOutcome, ExpireDue) must refuse as well, in their own
// transaction or the caller's, instead of writing withdrawals and
// reservations as this build does into tables whose meaning the newer
// release may have changed.
func TestStoreWritersRefuseASchemaANewerReleaseMigrated(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("80", "80", "80", "80")
	for i := range 3 {
		e.create(e.request(fmt.Sprintf("wd-%d", i+1), "60", cids[i]))
	}
	e.tick(e.world.Now())
	_, err := e.db.ExecContext(e.ctx, `INSERT INTO txhistory.txhistory_migration (version, name) VALUES ($1, 'from_a_newer_release')`, schema.Latest()+1)
	require.NoError(t, err)
	before := snapshot(t, e.db)

	inTx := func(fn func(tx *sqlx.Tx) error) error {
		tx, err := e.db.BeginTxx(e.ctx, nil)
		require.NoError(t, err)
		err = fn(tx)
		if err != nil {
			require.NoError(t, tx.Rollback())
			return err
		}
		return tx.Commit()
	}
	w3 := e.get("wd-3")
	later := map[string]time.Time{ledgertest.DefaultSynchronizer: e.world.Now().Add(2 * ttl)}
	writers := []struct {
		name  string
		write func() error
	}{
		{"Create", func() error { _, err := e.store.Create(e.ctx, e.request("wd-new", "60", cids[3])); return err }},
		{"CreateTx", func() error {
			return inTx(func(tx *sqlx.Tx) error {
				_, err := e.store.CreateTx(e.ctx, tx, e.request("wd-new", "60", cids[3]))
				return err
			})
		}},
		{"MarkSubmitted", func() error { _, err := e.store.MarkSubmitted(e.ctx, "wd-1"); return err }},
		{"MarkSubmittedTx", func() error {
			return inTx(func(tx *sqlx.Tx) error { _, err := e.store.MarkSubmittedTx(e.ctx, tx, "wd-1"); return err })
		}},
		{"MarkFailed", func() error { _, err := e.store.MarkFailed(e.ctx, "wd-2", "no pre-approval"); return err }},
		{"MarkFailedTx", func() error {
			return inTx(func(tx *sqlx.Tx) error {
				_, err := e.store.MarkFailedTx(e.ctx, tx, "wd-2", "no pre-approval")
				return err
			})
		}},
		{"ApplyOutcome", func() error {
			_, err := e.store.ApplyOutcome(e.ctx, withdrawal.Outcome{ID: w3.ID, Status: withdrawal.StatusCompleted, UpdateID: "upd-wd-3",
				Offset: 900, RecordTime: e.world.Now(), SynchronizerID: ledgertest.DefaultSynchronizer,
				Instrument: w3.Instrument, Receiver: w3.Receiver, Transferred: w3.Amount})
			return err
		}},
		{"ExpireDue", func() error { _, err := e.store.ExpireDue(e.ctx, later); return err }},
		{"ExpireDueTx", func() error {
			return inTx(func(tx *sqlx.Tx) error { _, err := e.store.ExpireDueTx(e.ctx, tx, later); return err })
		}},
		{"Enable", func() error { return e.store.Enable(e.ctx, "incident over") }},
		{"EnableAfter", func() error { _, _, err := e.store.EnableAfter(e.ctx, time.Unix(1, 0), "restored"); return err }},
	}
	for _, w := range writers {
		err := w.write()
		assert.ErrorIs(t, err, schema.ErrUnknownVersion, "%s on a schema a newer release migrated to %03d (this build knows %03d)", w.name, schema.Latest()+1, schema.Latest())
	}
	require.Equal(t, before, snapshot(t, e.db), "the Store's writers wrote on a schema a newer release migrated")
}

// Closing the gate, the brake, is the one Store write that does not check
// the schema's version: an operator closes it with whatever tool is at
// hand, on a schema a newer release migrated, and RestoreProcedure closes
// a restored older backup's before its migration. The other writers refuse
// both.
func TestDisableClosesTheGateWhateverTheSchemaVersion(t *testing.T) {
	for name, migrate := range map[string]func(e *env) error{
		"newer": func(e *env) error {
			_, err := e.db.ExecContext(e.ctx, `INSERT INTO txhistory.txhistory_migration (version, name) VALUES ($1, 'from_a_newer_release')`, schema.Latest()+1)
			return err
		},
		"older": func(e *env) error { return schema.Migrate(e.ctx, e.db, schema.WithTargetVersion(7)) },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
			cids := e.mint("80")
			require.NoError(t, migrate(e))
			require.NoError(t, e.store.Disable(e.ctx, "incident"))
			g, err := e.store.Gate(e.ctx)
			require.NoError(t, err)
			require.False(t, g.Enabled)
			want := map[string]error{"newer": schema.ErrUnknownVersion, "older": schema.ErrNotMigrated}[name]
			require.ErrorIs(t, e.store.Enable(e.ctx, "too early"), want)
			_, err = e.store.Create(e.ctx, e.request("wd-1", "60", cids...))
			require.ErrorIs(t, err, want)
		})
	}
}

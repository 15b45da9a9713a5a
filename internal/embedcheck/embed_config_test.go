package embedcheck

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
)

func TestEmbedConfigValidation(t *testing.T) {
	e := newExch(t)
	try := func(name string, f func() error) {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("%s: panic %v", name, r)
			}
		}()
		t.Logf("%s: %v", name, f())
	}
	try("NewStore nil db", func() error { _, err := withdrawal.NewStore(nil, withdrawal.Config{}); return err })
	try("NewStore bad schema", func() error { _, err := withdrawal.NewStore(e.db, withdrawal.Config{Schema: "Bad"}); return err })
	try("NewReconciler nil", func() error { _, err := withdrawal.NewReconciler(nil, withdrawal.ReconcilerConfig{}); return err })
	try("NewHistory empty", func() error { _, err := tokenstd.NewHistory(tokenstd.Config{}); return err })
	try("NewHistory bad schema", func() error { _, err := tokenstd.NewHistory(tokenstd.Config{Treasury: "x", Schema: "Bad"}); return err })
	try("NewHistory bad policy", func() error { _, err := tokenstd.NewHistory(tokenstd.Config{Treasury: "x", OnError: 7}); return err })
	try("ingest bad poison", func() error {
		_, err := ingest.New(e.db, e.client, ingest.Config{Parties: []string{"x"}, Poison: 9})
		return err
	})
	try("ingest bad lock", func() error {
		_, err := ingest.New(e.db, e.client, ingest.Config{Parties: []string{"x"}, Lock: 9})
		return err
	})
	try("restore nil store", func() error {
		_, err := withdrawal.RestoreProcedure{TTL: time.Hour}.Run(context.Background())
		return err
	})
	try("auto negative", func() error {
		_, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: withdrawal.SubmitFunc(nil), BatchSize: -1})
		return err
	})
	try("store unmigrated", func() error {
		_, err := e.db.Exec(`CREATE SCHEMA other`)
		if err != nil {
			return err
		}
		s, err := withdrawal.NewStore(e.db, withdrawal.Config{Schema: "other"})
		if err != nil {
			return err
		}
		_, err = s.Gate(context.Background())
		return err
	})
	try("ingest unmigrated", func() error {
		ing, err := ingest.New(e.db, e.client, ingest.Config{Parties: []string{"x"}, Schema: "other"})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return ing.Run(ctx)
	})
}

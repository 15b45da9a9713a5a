package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
)

// TestEmbedConstructorsRefuseNilHooks: a hook holding a nil func or
// pointer (the History of a NewHistory whose error was ignored, as the
// package documentation's usage writes it; a RefundFunc of a function the
// exchange left unset) is refused by the constructor with an error, as
// ingest.New refuses such a Handler, rather than panicking there or at the
// first refund, recovery or submission, inside an ingestion batch or an
// Automation round.
func TestEmbedConstructorsRefuseNilHooks(t *testing.T) {
	db := pgtest.NewDB(t)
	store, err := withdrawal.NewStore(db, withdrawal.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var history *tokenstd.History
	for name, f := range map[string]func() error{
		"NewStore with Refunder RefundFunc(nil)": func() error {
			_, err := withdrawal.NewStore(db, withdrawal.Config{Refunder: withdrawal.RefundFunc(nil)})
			return err
		},
		"NewReconciler with a nil *tokenstd.History": func() error {
			_, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{History: history})
			return err
		},
		"NewReconciler with Recovery RecoveryFunc(nil)": func() error {
			_, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{Recovery: withdrawal.RecoveryFunc(nil)})
			return err
		},
		"NewAutomation with Submitter SubmitFunc(nil)": func() error {
			_, err := withdrawal.NewAutomation(store, withdrawal.AutomationConfig{Submitter: withdrawal.SubmitFunc(nil)})
			return err
		},
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: panics: %v", name, r)
				}
			}()
			if err := f(); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}()
	}
}

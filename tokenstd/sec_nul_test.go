package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
)

// A synchronizer id holding a NUL byte: PostgreSQL text refuses it.
func TestSecNULSynchronizerID(t *testing.T) {
	requireUnstorableTxNamed(t, func(tx *ledger.Transaction) { tx.SynchronizerID = "sync-\x00-nul" })
}

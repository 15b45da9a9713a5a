package tokenstd_test

import (
	"fmt"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// A synchronizer id holding a NUL byte: PostgreSQL text refuses it.
func TestSecNULSynchronizerID(t *testing.T) {
	for _, policy := range []ingest.PoisonPolicy{ingest.PoisonHalt, ingest.PoisonSetAside} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			r := newRig(t)
			w, cp := committedDeposit(t, r, policy)
			tx := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1"})
			tx.SynchronizerID = "sync-\x00-nul"
			bad := r.append(tx)[0]
			err := r.run(policy)
			t.Logf("Run: %q; checkpoint %d -> %d", err, cp, r.checkpoint())
			if policy == ingest.PoisonSetAside {
				require.NoError(t, err)
				return
			}
			require.Equal(t, cp, r.checkpoint())
			requireNamesTx(t, err, bad)
		})
	}
}

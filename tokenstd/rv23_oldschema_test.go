package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// A new release's binary started on a schema its migration job has not
// brought up yet (the job failed, or ran after the rollout) must refuse to
// ingest, naming what to do. Today the Ingester refuses only a newer schema:
// on an older one the History's writes fail for a column the missing
// migration adds, which under PoisonSetAside reads as poison, so every
// deposit offer is set aside for review and the checkpoint moves past it.
func TestIngesterRefusesASchemaBehindThisBuild(t *testing.T) {
	r := newRig(t)
	behind := schema.Latest() - 1
	require.NoError(t, schema.Migrate(r.b.ctx, r.b.db, schema.WithSchema(testSchema), schema.WithTargetVersion(behind)))
	w := &ledgertest.TokenWorld{}
	r.append(w.Mint(alice, "1000"))
	offer, _ := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1"})
	r.append(offer)

	err := r.run(ingest.PoisonSetAside)
	require.Error(t, err, "Run on a schema at version %03d with a build that needs %03d: no refusal", behind, schema.Latest())
	require.ErrorContains(t, err, "Migrate", "the refusal does not say what to do")
	require.Zero(t, r.count(`SELECT count(*) FROM tokens.review_transaction`), "transactions set aside on a schema behind the build")
	require.Zero(t, r.count(`SELECT count(*) FROM tokens.ingested_update`), "transactions ingested on a schema behind the build")
}

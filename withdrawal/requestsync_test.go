package withdrawal_test

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A request naming a synchronizer nothing was ever ingested from
// (Request.SynchronizerID with a typo, or the id of another participant's
// synchronizer) has no clock: it never expires, its user funds are never
// credited back, and the Automation hands it to the Submitter every round
// long after its deadline. The store warns, naming the synchronizer, when
// Config.Synchronizer(s) name such a synchronizer
// (TestUnknownSynchronizerClockIsLogged); a request naming one must be
// warned about as well, or the withdrawal hangs without a word.
func TestRequestSynchronizerWithNoClockIsLogged(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, withdrawal.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10")
	e.tick(e.world.Now())
	r := e.request("wd-1", "5", cids[0])
	r.SynchronizerID = "typo::1220"
	e.create(r)

	// The ledger's clock moves far past trecTgt: nothing happens.
	e.tick(r.TrecTgt.Add(time.Hour))
	e.tick(r.TrecTgt.Add(2 * time.Hour))
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-1").Status)
	require.Empty(t, refunds(t, e.db))
	require.Contains(t, logs.String(), "typo::1220",
		"no warning that withdrawal wd-1 cannot expire: its synchronizer has no record time ingested")
}

package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/withdrawal"
)

// TestEmbedListByStatusRefusesUnknownStatus: a status that is none of
// Statuses() (a typo, "complete", or text from elsewhere converted without
// Status.Valid) is refused, not answered with an empty list as if no
// withdrawal had that status.
func TestEmbedListByStatusRefusesUnknownStatus(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	e.create(e.request("wd-1", "10", e.mint("20")...))
	ws, err := e.store.ListByStatus(e.ctx, withdrawal.StatusRequested, "complete")
	if err == nil {
		t.Fatalf("ListByStatus with the unknown status %q: %d withdrawals, no error", "complete", len(ws))
	}
}

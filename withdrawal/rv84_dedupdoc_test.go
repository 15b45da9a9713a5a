package withdrawal_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The Submitter contract tells the exchange to use the withdrawal id "as the
// command id (or submission id) for command deduplication". A participant
// deduplicates by change ID: the user (application) id, the act_as parties
// and the command id; the submission id only tells the completions of
// attempts apart (each attempt should get its own). An exchange that puts
// the withdrawal id in submission_id, with a fresh command id per attempt,
// has no deduplication at all. And deduplication holds only within the
// deduplication period: the contract must say so, and that what stops a
// second transfer beyond it is spending exactly the reserved holdings, as
// the Automation hands a requested withdrawal to the Submitter again after
// a lost "submitted" mark.
func TestRV84SubmitterDeduplicationIsDocumented(t *testing.T) {
	b, err := os.ReadFile("automation.go")
	require.NoError(t, err)
	src := strings.Join(strings.Fields(strings.ReplaceAll(string(b), "//", "")), " ")
	_, doc, found := strings.Cut(src, "Submitter is the exchange's Withdrawal Automation step")
	require.True(t, found)
	doc, _, _ = strings.Cut(doc, "type Submitter interface")
	require.NotContains(t, doc, "(or submission id)", "the Submitter contract offers the submission id as the deduplication key: it is not part of the change ID")
	for _, s := range []string{"change ID", "act_as", "deduplication period", "submission id does not deduplicate"} {
		require.Contains(t, doc, s, "the Submitter contract does not say what command deduplication needs and how long it holds (%q)", s)
	}
}

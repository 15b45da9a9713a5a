package ingest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRV184RedactKeepsAnInstrumentField: an instrument prints as
// id@admin, the admin a party id ("Amulet@DSO::1220…"), and a withdrawal
// printed with %+v (dbrestoredrill's FAIL line, which it passes through
// Redact) names it after its field, "Instrument:Amulet@DSO::1220…": that
// is no target's user information, and stays. A target whose host is an
// unbracketed IPv6 address ("u:password@fe80::1") or a doubled colon
// ("u:password@localhost::5001") is still redacted.
func TestRV184RedactKeepsAnInstrumentField(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{
			"dbrestoredrill: FAIL: wd-a5 (no transfer pre-approval) is not failed: &{Request:{ID:wd-a5 UserAccount: Amount:0 Instrument:Amulet@DSO::1220d50a Receiver:bob::1220abcd ReservedHoldings:[] ReservedFunds:0 TrecTgt:0001-01-01 00:00:00 +0000 UTC SynchronizerID:} Status:failed}",
			"dbrestoredrill: FAIL: wd-a5 (no transfer pre-approval) is not failed: &{Request:{ID:wd-a5 UserAccount: Amount:0 Instrument:Amulet@DSO::1220d50a Receiver:bob::1220abcd ReservedHoldings:[] ReservedFunds:0 TrecTgt:0001-01-01 00:00:00 +0000 UTC SynchronizerID:} Status:failed}",
		},
		{"{Instrument:Amulet@dso-1::1220d50a}", "{Instrument:Amulet@dso-1::1220d50a}"},
		{"invalid target address u:S3cret@fe80::1:5001", "invalid target address u:REDACTED@fe80::1:5001"},
		{"invalid target address u:S3cret@::1:5001", "invalid target address u:REDACTED@::1:5001"},
		{"invalid target address u:S3cret@fe80::1220:5001", "invalid target address u:REDACTED@fe80::1220:5001"},
		{"invalid target address u:S3cret@localhost::5001", "invalid target address u:REDACTED@localhost::5001"},
	} {
		require.Equal(t, c.want, Redact(c.in), c.in)
	}
}

package ingest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRV184RedactTargetWithANumericUserName: a user name of digits alone
// (a numeric account, "1001:password@host:port") is user information like
// any other, in grpc-go's refusal too; only a clock time ("12:34",
// "12:34:56", "12:34:56.789" before an "@") is not one.
func TestRV184RedactTargetWithANumericUserName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{
			`ledger: GetLedgerEnd: Unavailable: invalid target address 1001:S3cret@127.0.0.1:1, error info: address 1001:S3cret@127.0.0.1:1:443: too many colons in address`,
			`ledger: GetLedgerEnd: Unavailable: invalid target address 1001:REDACTED@127.0.0.1:1, error info: address 1001:REDACTED@127.0.0.1:1:443: too many colons in address`,
		},
		{"dns:///7:S3cret@h:1", "dns:///7:REDACTED@h:1"},
		{"target 12:345678@h:1", "target 12:REDACTED@h:1"},
		{"ledger end at 12:34:56@offset 42 unknown", "ledger end at 12:34:56@offset 42 unknown"},
		{"at 12:34@node-1", "at 12:34@node-1"},
		{"at 2:34:56.789@node-1", "at 2:34:56.789@node-1"},
		{"(12:34@node-1) =12:34:56@node-2", "(12:34@node-1) =12:34:56@node-2"},
		{"(7:S3cret@h:1) 12:34@x u:S3cret@h:2", "(7:REDACTED@h:1) 12:34@x u:REDACTED@h:2"},
	} {
		require.Equal(t, c.want, Redact(c.in), c.in)
	}
}

package ingest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRV184RedactTargetPasswordWithAQuote: gRPC quotes a target raw, not
// Go-quoted ("invalid target address u:p"w@h:1, error info: …"), so a
// password holding a quote keeps no quote around it that ends it: it is
// withheld whole, the address kept. The messages are grpc-go's own, for
// ledger.Dial's LedgerEnd against such targets.
func TestRV184RedactTargetPasswordWithAQuote(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{
			`ledger: GetLedgerEnd: Unavailable: invalid target address u:S3c"ret@127.0.0.1:1, error info: address u:S3c"ret@127.0.0.1:1:443: too many colons in address`,
			`ledger: GetLedgerEnd: Unavailable: invalid target address u:REDACTED@127.0.0.1:1, error info: address u:REDACTED@127.0.0.1:1:443: too many colons in address`,
		},
		{
			`ledger: GetLedgerEnd: Unavailable: invalid target address u:S3c'ret@127.0.0.1:1, error info: address u:S3c'ret@127.0.0.1:1:443: too many colons in address`,
			`ledger: GetLedgerEnd: Unavailable: invalid target address u:REDACTED@127.0.0.1:1, error info: address u:REDACTED@127.0.0.1:1:443: too many colons in address`,
		},
		{`target u:'S3cret'@h:1`, `target u:REDACTED@h:1`},
		{`target "u:S3c\"ret@h:1"`, `target "u:REDACTED@h:1"`},
		// A quote around the target still ends it.
		{`target "dns:///u:S3cret@h:1" and "a@b"`, `target "dns:///u:REDACTED@h:1" and "a@b"`},
	} {
		require.Equal(t, c.want, Redact(c.in), c.in)
	}
}

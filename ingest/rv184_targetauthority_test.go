package ingest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRV184RedactTargetWithAResolverAuthority: gRPC's naming also takes a
// target with the DNS server to ask ("dns://8.8.8.8/host:port", or with
// its port), and ingestd logs -ledger through Redact in its start line
// and -plaintext warning: a password in such a target is withheld too, and
// a URL's path that only looks like user information after its host
// stays as it was.
func TestRV184RedactTargetWithAResolverAuthority(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"dns://8.8.8.8/u:S3cret@127.0.0.1:5001", "dns://8.8.8.8/u:REDACTED@127.0.0.1:5001"},
		{"dns://8.8.8.8:53/u:S3cret@127.0.0.1:5001", "dns://8.8.8.8:53/u:REDACTED@127.0.0.1:5001"},
		{`ledger="dns://[::1]:53/:S3cret@participant:5001"`, `ledger="dns://[::1]:53/:REDACTED@participant:5001"`},
		{`Post "https://auth.example.com/realms/x/token@v2": EOF`, `Post "https://auth.example.com/realms/x/token@v2": EOF`},
	} {
		require.Equal(t, c.want, Redact(c.in), c.in)
	}
}

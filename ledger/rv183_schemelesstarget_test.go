package ledger_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// TestRV183RedactsCredentialsInASchemelessTarget: a gRPC target has no
// scheme by default, so a participant's address given with credentials
// reads "user:password@host:port" (or "dns:///user:password@host:port"),
// without the "://" before the user that a URL has. gRPC's refusal quotes
// the target, and ingest.Redact, which ingestd's logs, the examples'
// error output and /healthz pass it through, must withhold the password
// there too, and keep the address.
func TestRV183RedactsCredentialsInASchemelessTarget(t *testing.T) {
	const secret = "s3cret-rv183"
	for _, target := range []string{
		"treasury:" + secret + "@127.0.0.1:1",
		"dns:///treasury:" + secret + "@127.0.0.1:1",
		":" + secret + "@127.0.0.1:1",
		"treasury:" + secret + "@[::1]:1",
		"treasury:" + secret + "/with/slashes@127.0.0.1:1",
	} {
		t.Run(target, func(t *testing.T) {
			c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: target, Insecure: true}})
			require.NoError(t, err)
			defer c.Close()
			_, err = c.LedgerEnd(context.Background())
			require.ErrorContains(t, err, secret, "gRPC's refusal quotes the target (else this test proves nothing)")
			got := ingest.Redact(err.Error())
			require.NotContains(t, got, "s3cret", got)
			require.NotContains(t, got, "rv183", got)
			require.Contains(t, got, "REDACTED", got)
			require.Contains(t, got, "1:443: too many colons in address", "the rest of the message stays")
		})
	}
}

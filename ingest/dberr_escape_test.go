package ingest

import (
	"testing"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// A URL password holding a "%" not followed by two hex digits does not
// parse; net/url's reason quotes the bad escape: the "%" and the two
// characters of the password after it. Redact withholds the URL but not
// that quote.
func TestRedactInvalidEscapeQuotesThePassword(t *testing.T) {
	dsn := "postgres://txuser:ab%Q7pwd@127.0.0.1:1/integration"
	_, err := pq.NewConnector(dsn)
	require.Error(t, err)
	got := Redact(err.Error())
	require.NotContains(t, got, "Q7", "lib/pq said: %v; redacted: %s", err, got)
}

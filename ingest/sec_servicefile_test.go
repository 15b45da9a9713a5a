package ingest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// A connection string naming a service (service=...) has lib/pq read the
// service file, which holds the service's password; a line of it lib/pq
// cannot read (a blank or a colon where "=" belongs) is quoted whole in
// its error. Redact must withhold it as it does a connection string's.
func TestSecRedactServiceFileLine(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pg_service.conf")
	for _, line := range []string{"password S3cretPw9x", "password: S3cretPw9x", "= S3cretPw9x"} {
		require.NoError(t, os.WriteFile(file, []byte("[integration]\nhost=127.0.0.1\nport=1\n"+line+"\ndbname=integration\n"), 0o600))
		t.Setenv("PGSERVICEFILE", file)
		_, err := pq.NewConnector("service=integration sslmode=disable")
		require.ErrorContains(t, err, "S3cretPw9x", "not the case under test: lib/pq does not quote %q", line)
		got := ingest.Redact("ingest: take ingestion lock: " + err.Error())
		require.NotContains(t, got, "Pw9x", "lib/pq said: %v", err)
		require.Contains(t, got, "line 4", "which line stays")
	}
}

package ingest

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

func TestIsTransientDBError(t *testing.T) {
	transient := []error{
		&pq.Error{Code: "57P01"}, // admin_shutdown
		&pq.Error{Code: "08006"}, // connection_failure
		&pq.Error{Code: "40001"}, // serialization_failure
		&pq.Error{Code: "53300"}, // too_many_connections
		&pq.Error{Code: "57014"}, // query_canceled: statement_timeout
		&pq.Error{Code: "55P03"}, // lock_not_available: lock_timeout
		driver.ErrBadConn,
		fmt.Errorf("dial: %w", syscall.ECONNREFUSED),
	}
	for _, err := range transient {
		require.True(t, IsTransientDBError(err), "%v", err)
	}
	permanent := []error{
		&pq.Error{Code: "23505"}, // unique_violation
		&pq.Error{Code: "42P01"}, // undefined_table
		&pq.Error{Code: "57P04"}, // database_dropped
		&pq.Error{Code: "3D000"}, // invalid_catalog_name (no such database)
		&url.Error{Op: "parse", URL: "postgres://x:y@h:notaport/db", Err: errors.New("invalid port")},
		errors.New("handler said no"),
		nil,
	}
	for _, err := range permanent {
		require.False(t, IsTransientDBError(err), "%v", err)
	}
}

func TestRedact(t *testing.T) {
	require.Equal(t, "postgres://user:REDACTED@host/db", Redact("postgres://user:s3cret@host/db"))
	require.Equal(t, "host=h password=REDACTED user=u", Redact("host=h password=s3cret user=u"))
	require.Equal(t, "no secret here", Redact("no secret here"))
	require.Equal(t, "host=h password = REDACTED dbname=x", Redact("host=h password = S3cretPw dbname=x"))
	require.Equal(t, "postgres://:REDACTED@127.0.0.1:1/x?sslmode=disable", Redact("postgres://:S3cretPw@127.0.0.1:1/x?sslmode=disable"))

	// Every form lib/pq accepts: the secret is gone, the rest stays.
	for _, dsn := range []string{
		"host=h password='S3cret Pw' dbname=x",
		`host=h password='S3cret\' Pw' dbname=x`,
		"host=h PASSWORD=S3cret dbname=x",
		"host=h password='S3cret Pw", // unterminated: to the end
		"postgres://u:S3c%40ret@h/x",
		"postgres://u:S3c@ret@h/x",
		"postgresql://u@h/x?password=S3cret&dbname=x",
		"missing \"=\" after \"x\" in host=h password=S3cret",
		// The client key's passphrase, and the key itself inline
		// (sslinline=true), are secrets too.
		"host=h sslpassword=S3cret dbname=x",
		"postgres://u@h/x?sslmode=verify-full&sslpassword=S3cret",
		"host=h sslinline=true sslkey='-----BEGIN PRIVATE KEY-----\nS3cretPw\n-----END PRIVATE KEY-----' dbname=x",
		"postgres://u@h/x?sslinline=true&sslkey=-----BEGIN%20PRIVATE%20KEY-----%20S3cretPw%20-----END%20PRIVATE%20KEY-----",
	} {
		got := Redact(dsn)
		require.NotContains(t, got, "S3c", dsn)
		require.NotContains(t, got, "Pw", dsn)
		require.NotContains(t, got, "ret", dsn)
		require.Contains(t, got, "REDACTED", dsn)
		require.Contains(t, got, "h", dsn)
	}
}

// TestRedactEveryLibpqForm: values lib/pq reads with blanks in them (a URL
// query value with literal blanks, an unquoted key=value with a
// backslash-escaped blank) are withheld whole.
func TestRedactEveryLibpqForm(t *testing.T) {
	for _, dsn := range []string{
		// An inline client key in a URL: blanks left literal, newlines
		// %0A-encoded (a valid PEM once decoded).
		"postgres://u@h/x?sslmode=verify-full&sslinline=true&sslkey=-----BEGIN PRIVATE KEY-----%0AMC4CAQAwBQYDK2VwS3cretPw%0A-----END PRIVATE KEY-----",
		"postgres://u@h/x?sslpassword=S3c retPw&dbname=x",
		`host=h sslpassword=S3c\ retPw dbname=x`,
		`host=h password=S3c\ retPw dbname=x`,
		"host=h password\v=\vS3cretPw dbname=x",
		"host=h password='S3c\\\nretPw' dbname=x",
		"host=h sslinline=true sslkey='-----BEGIN PRIVATE KEY-----\nS3cretPw\n-----END PRIVATE KEY-----' dbname=x",
	} {
		_, err := pq.NewConnector(dsn)
		require.NoError(t, err, "lib/pq accepts %q", dsn)
		got := Redact(dsn)
		require.NotContains(t, got, "S3c", "%q -> %q", dsn, got)
		require.NotContains(t, got, "retPw", "%q -> %q", dsn, got)
		require.Contains(t, got, "REDACTED", dsn)
		before := dsn[:strings.Index(dsn, "h")+1]
		require.True(t, strings.HasPrefix(got, before), "%q -> %q", dsn, got)
	}
}

// TestRedactKeepsWhatIsNotSecret: an sslkey without sslinline names a file,
// and the parameters after a withheld one are not secrets.
func TestRedactKeepsWhatIsNotSecret(t *testing.T) {
	for _, c := range []struct{ dsn, want string }{
		{"postgres://u@h/x?sslkey=/etc/pg/client.key&sslmode=verify-full&sslrootcert=/etc/pg/ca.pem",
			"postgres://u@h/x?sslkey=/etc/pg/client.key&sslmode=verify-full&sslrootcert=/etc/pg/ca.pem"},
		{"host=h sslcert=/etc/pg/client.pem sslkey=/etc/pg/client.key sslmode=verify-full",
			"host=h sslcert=/etc/pg/client.pem sslkey=/etc/pg/client.key sslmode=verify-full"},
		{"postgres://u@h/x?password=S3cret&sslmode=verify-full", "postgres://u@h/x?password=REDACTED&sslmode=verify-full"},
		{"host=h password='a b' sslmode=require", "host=h password=REDACTED sslmode=require"},
	} {
		require.Equal(t, c.want, Redact(c.dsn))
	}
}

// TestRedactUnicodeBlankAroundEquals: lib/pq skips any Unicode blank
// around "=".
func TestRedactUnicodeBlankAroundEquals(t *testing.T) {
	for _, dsn := range []string{
		"host=h password\u00a0=S3cretPw dbname=x",
		"host=h password=\u00a0S3cretPw dbname=x",
		"host=h sslpassword=\u2003S3cretPw dbname=x",
	} {
		cfg, err := pq.NewConfig(dsn)
		require.NoError(t, err, "lib/pq accepts %q", dsn)
		require.Contains(t, cfg.Password+cfg.Runtime["sslpassword"], "S3cretPw", "lib/pq reads the secret of %q", dsn)
		require.NotContains(t, Redact(dsn), "S3cretPw", "%q", dsn)
	}
}

// TestRedactPercentEncodedQueryKey: a URL's query parameter names are
// percent-decoded.
func TestRedactPercentEncodedQueryKey(t *testing.T) {
	for _, dsn := range []string{
		"postgres://u@h/x?pass%77ord=S3cretPw&dbname=x",
		"postgres://u@h/x?%73slpassword=S3cretPw",
		"postgres://u@h/x?ssl%69nline=true&sslkey=-----BEGIN PRIVATE KEY-----%0AS3cretPw%0A-----END PRIVATE KEY-----",
	} {
		cfg, err := pq.NewConfig(dsn)
		require.NoError(t, err, "lib/pq accepts %q", dsn)
		require.Contains(t, cfg.Password+cfg.Runtime["sslpassword"]+cfg.SSLKey, "S3cretPw", "lib/pq reads the secret of %q", dsn)
		require.NotContains(t, Redact(dsn), "S3cretPw", "%q", dsn)
	}
}

// TestRedactAURLLibpqCannotParse: a URL whose password holds a character
// a URL must percent-encode ("/", "#", "?", a stray "%") does not parse,
// and lib/pq's error quotes it (net/url's `parse "…": …`), sometimes with
// a piece of the password as the "port". An application that logs
// Redact(err.Error()) for such a -dsn must not log the password.
func TestRedactAURLLibpqCannotParse(t *testing.T) {
	for _, dsn := range []string{
		"postgres://txuser:S3cretPw/x@127.0.0.1:1/integration",
		"postgres://txuser:S3cretPw#x@127.0.0.1:1/integration",
		"postgres://txuser:S3cretPw?x@127.0.0.1:1/integration",
		"postgresql://txuser:S3cretPw%zz@127.0.0.1:1/integration",
		"postgres://txuser:S3cretPw\"/x@127.0.0.1:1/integration",
	} {
		t.Run(dsn, func(t *testing.T) {
			_, err := pq.NewConnector(dsn)
			require.Error(t, err, "lib/pq accepts it: not the case under test")
			got := Redact("schema: beginning migration transaction: " + err.Error())
			require.NotContains(t, got, "S3cret", "lib/pq said: %v", err)
			require.Contains(t, got, "REDACTED")
			require.Contains(t, got, "schema: beginning migration transaction: ")
		})
	}
	// A URL that parses keeps its host and port.
	require.Equal(t, `parse "postgres://u:REDACTED@h:5432/x": something`,
		Redact(`parse "postgres://u:S3cretPw@h:5432/x": something`))
}

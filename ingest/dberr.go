package ingest

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/url"
	"regexp"
	"syscall"

	"github.com/lib/pq"
)

// IsTransientDBError reports whether err is a database fault that a retry
// of the whole SQL transaction can get past: a lost or refused connection, a
// server shutting down or starting up, a serialization failure or deadlock,
// too many connections. A dropped database is not one.
func IsTransientDBError(err error) bool {
	if err == nil {
		return false
	}
	var pqe *pq.Error
	if errors.As(err, &pqe) {
		switch pqe.Code.Class() {
		case "08", // connection exception
			"57": // operator intervention: admin shutdown, crash shutdown, cannot connect now
			// query_canceled is ours (context); database_dropped does not
			// come back by waiting.
			return pqe.Code != "57014" && pqe.Code != "57P04"
		case "53": // insufficient resources (too many connections, out of memory)
			return true
		}
		switch pqe.Code {
		case "40001", "40P01": // serialization failure, deadlock
			return true
		}
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// A connection string that does not parse is not a fault to wait out.
		return ue.Err != nil && IsTransientDBError(ue.Err)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// dsnPassword finds a secret in the forms lib/pq accepts: a key=value
// pair (blanks around "=" allowed, the value quoted with backslash escapes
// or not; an unterminated quote runs to the end) of password, sslpassword
// (the client key's passphrase) or sslkey (with sslinline=true, the key
// itself), a URL's user information (the user name may be empty, the
// password may hold an unencoded "@": the last "@" before the host
// counts), or a URL's parameter of those names.
var dsnPassword = regexp.MustCompile(`(?i)(\b(?:ssl)?password\s*=\s*|\bsslkey\s*=\s*)(?:'(?:[^'\\]|\\.)*(?:'|\\?$)|\S+)|(://[^:/@\s]*:)[^\s/]*@`)

// Redact removes passwords (and a client key's passphrase, and an inline
// client key) from a connection string or an error message that may
// contain one.
func Redact(s string) string {
	return dsnPassword.ReplaceAllStringFunc(s, func(m string) string {
		sub := dsnPassword.FindStringSubmatch(m)
		if sub[1] != "" {
			return sub[1] + "REDACTED"
		}
		return sub[2] + "REDACTED@"
	})
}

type redacted struct{ err error }

func (r redacted) Error() string { return Redact(r.err.Error()) }
func (r redacted) Unwrap() error { return r.err }

func redactErr(err error) error {
	if err == nil {
		return nil
	}
	return redacted{err}
}

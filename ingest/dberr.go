package ingest

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

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

// dsnUserPassword finds the password in a URL's user information (the user
// name may be empty, the password may hold an unencoded "@": the last "@"
// before the host counts).
var dsnUserPassword = regexp.MustCompile(`(://[^:/@\s]*:)[^\s/]*@`)

// dsnSecretKey finds the key of a secret setting, in a key=value pair
// (blanks around "=" allowed) or as a URL's query parameter: password,
// sslpassword (the client key's passphrase) or sslkey (with sslinline, the
// key itself; otherwise a file's path). The value starts where the match
// ends.
var dsnSecretKey = regexp.MustCompile(`(?i)(?:^|[^\w])((?:ssl)?password|sslkey)[\s\v]*=[\s\v]*`)

// dsnInline tells whether sslkey holds the key rather than its file.
var dsnInline = regexp.MustCompile(`(?i)\bsslinline\b`)

// Redact removes secrets from a connection string, or from an error
// message that may contain one, in every form lib/pq accepts: a URL's
// password, and the values of password, sslpassword and (with sslinline)
// sslkey, whether key=value pairs (quoted with backslash escapes, or
// unquoted with backslash-escaped blanks; an unterminated quote runs to
// the end) or URL query parameters (to the next "&": lib/pq takes literal
// blanks there). What is not secret, such as an sslkey that names a file
// or the parameters after a secret one, stays.
func Redact(s string) string {
	s = dsnUserPassword.ReplaceAllString(s, "${1}REDACTED@")
	inline := dsnInline.MatchString(s)
	var b strings.Builder
	for {
		m := dsnSecretKey.FindStringSubmatchIndex(s)
		if m == nil {
			b.WriteString(s)
			return b.String()
		}
		inQuery := m[2] > m[0] && (s[m[0]] == '?' || s[m[0]] == '&')
		end := secretEnd(s, m[1], inQuery)
		b.WriteString(s[:m[1]])
		if strings.EqualFold(s[m[2]:m[3]], "sslkey") && !inline {
			b.WriteString(s[m[1]:end])
		} else {
			b.WriteString("REDACTED")
		}
		s = s[end:]
	}
}

// secretEnd returns where the value starting at i ends: at the next "&"
// (or line end) in a URL's query; else after its closing quote, or at the
// first blank not escaped by a backslash, as lib/pq reads a key=value
// connection string.
func secretEnd(s string, i int, inQuery bool) int {
	if inQuery {
		if j := strings.IndexAny(s[i:], "&\n"); j >= 0 {
			return i + j
		}
		return len(s)
	}
	if i < len(s) && s[i] == '\'' {
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case '\'':
				return j + 1
			}
		}
		return len(s)
	}
	j := i
	for j < len(s) {
		if s[j] == '\\' {
			j += 2
			continue
		}
		r, n := utf8.DecodeRuneInString(s[j:])
		if unicode.IsSpace(r) {
			break
		}
		j += n
	}
	return min(j, len(s))
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

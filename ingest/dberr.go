package ingest

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/cantonx/txhistory/ledger"
	"github.com/lib/pq"
)

// IsTransientDBError reports whether err is a database fault that a retry
// of the whole SQL transaction can get past: a lost or refused connection, a
// server shutting down or starting up, a serialization failure or deadlock,
// too many connections, a statement cancelled (statement_timeout,
// pg_cancel_backend) or a lock not granted in time (lock_timeout): another
// session may be holding what the statement waits for. A dropped database
// is not one, nor a TLS handshake the server refused (the client
// certificate the DSN names expired, revoked or of a CA it does not trust):
// an authentication failure, as a refused password is; the alert "bad
// certificate" is transient, though: PostgreSQL sends it for a certificate
// not yet valid, renewed a moment ago by an issuer whose clock is ahead.
// Under TLS 1.3 the server refuses a client certificate after the client's
// side of the handshake, and the client may see a reset connection rather
// than the alert: transient, until an attempt reads the alert. A
// statement cancelled because the caller's context ended is reported as
// cancelled too (57014): check the context first.
//
// Any network error (net.Error) counts, a timeout included, whatever it
// came from: context.DeadlineExceeded is one, so a Handler's error that
// wraps it (a statement or a call to another service under a deadline of
// the Handler's own) is retried as a fault (counted by MaxAttempts), under
// either poison policy, and neither stops Run nor is set aside; one that
// wraps context.Canceled while Run's context is alive is the Handler's
// rejection.
func IsTransientDBError(err error) bool {
	if err == nil || tlsRefused(err) {
		return false
	}
	var pqe *pq.Error
	if errors.As(err, &pqe) {
		switch pqe.Code.Class() {
		case "08", // connection exception
			"57": // operator intervention: admin shutdown, crash shutdown, cannot connect now
			// database_dropped does not come back by waiting.
			return pqe.Code != "57P04"
		case "53": // insufficient resources (too many connections, out of memory)
			return true
		}
		switch pqe.Code {
		case "40001", "40P01", // serialization failure, deadlock
			"55P03": // lock_not_available (lock_timeout)
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

// deploymentFault reports whether err is PostgreSQL's refusal of a
// statement for what the database lacks or forbids, whatever the data: a
// table, column, function or schema that does not exist, a missing grant,
// a syntax error (SQLSTATE classes 42 and 3F); a refusal of who asks: a
// login PostgreSQL refused (class 28: a password rotated under a pool of
// the Handler's own; class 3D: a database its DSN names that the server
// lacks; a TLS handshake it refused, for the client certificate of the
// Handler's DSN), a participant that refused the Handler's client its
// token, its rights or its certificate (ledger.IsAuth); a Handler's call
// through a closed ledger.Client (ledger.ErrClientClosed); or a Handler's
// error marked ErrDeploymentFault. A Handler's call refused so would be
// refused for every transaction alike: it is a mistake of the deployment (a
// schema set in one place and not another, a migration not run, a
// credential not renewed, handlers chained in the wrong order), not a
// transaction to set aside.
func deploymentFault(err error) bool {
	if errors.Is(err, ErrDeploymentFault) || errors.Is(err, ledger.ErrClientClosed) || ledger.IsAuth(err) || tlsRefused(err) {
		return true
	}
	var pqe *pq.Error
	if !errors.As(err, &pqe) {
		return false
	}
	switch pqe.Code.Class() {
	case "42", "3F", "28", "3D":
		return true
	}
	return false
}

// tlsAlerts are the TLS alerts (crypto/tls's wording) by which a server
// refuses a handshake for what repeating it does not change: the client's
// certificate or TLS settings (ledger's tlsRefusals, for the participant).
// Not "bad certificate": OpenSSL sends it for a certificate not yet valid
// too, one renewed a moment ago by an issuer whose clock is ahead of the
// server's, which the server takes seconds later.
var tlsAlerts = []string{
	"tls: certificate required",
	"tls: unknown certificate", // "… authority" too
	"tls: expired certificate",
	"tls: revoked certificate",
	"tls: unsupported certificate",
	"tls: access denied",
	"tls: handshake failure",
	"tls: protocol version not supported",
	"tls: insufficient security level",
}

// tlsRefused reports whether err is the server's TLS alert refusing the
// handshake (crypto/tls reports a received alert as a *net.OpError of Op
// "remote error").
func tlsRefused(err error) bool {
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "remote error" || oe.Err == nil {
		return false
	}
	msg := oe.Err.Error()
	return slices.ContainsFunc(tlsAlerts, func(a string) bool { return strings.Contains(msg, a) })
}

// dsnUserPassword finds the password in a URL's user information (the user
// name may be empty, the password may hold an unencoded "@": the last "@"
// before the host counts).
var dsnUserPassword = regexp.MustCompile(`(://[^:/@\s]*:)[^\s/]*@`)

// targetUserPassword finds the password in the user information of a gRPC
// target, which has no scheme by default ("user:password@host:port") or
// one with the resolver's authority before the endpoint, empty or not
// ("dns:///user:password@host:port", "dns://8.8.8.8/user:password@…"),
// where gRPC quotes it. The user name (submatch 2) starts a word (after
// the characters that start one) and may be empty; a "password" (submatch
// 3) starting with "/" is a URL's path. The last "@" before a blank
// counts: gRPC quotes a target raw, so a quote in the password does not
// end it. A match that is a time of day (clockTime) is no user information.
var targetUserPassword = regexp.MustCompile(`((?:^|[\s"'(=,]|[A-Za-z][\w+.-]*://[^/\s"']*/)([^:/@\s"'(=,]*):)([^/\s]\S*)@`)

// clockTime finds a time of day that targetUserPassword takes for user
// information ("12:34:56@"): hours, then minutes, seconds and a fraction.
var clockTime = regexp.MustCompile(`^\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$`)

// partyAfter finds a party id ("DSO::1220…", its namespace a fingerprint)
// where a targetUserPassword match's host starts: "Instrument:Amulet@DSO::
// 1220…" is an instrument (id@admin) after a struct's field name, printed
// with %+v. A name of hex digits alone may be an IPv6 address
// ("u:password@fe80::1220").
var partyAfter = regexp.MustCompile(`^[^\s:@/\[\]]*[^\s:@/\[\]0-9A-Fa-f][^\s:@/\[\]]*::1220`)

// redactTargetPasswords withholds the password of each targetUserPassword
// match in s that is not a time of day nor an instrument.
func redactTargetPasswords(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range targetUserPassword.FindAllStringSubmatchIndex(s, -1) {
		if clockTime.MatchString(s[m[4]:m[7]]) || partyAfter.MatchString(s[m[1]:]) {
			continue
		}
		b.WriteString(s[last:m[3]])
		b.WriteString("REDACTED@")
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// urlParseError finds net/url's error for a URL that does not parse
// (`parse "<URL, Go-quoted>": <reason>`), and invalidPort the reason that
// quotes what it took for the port: both may hold a password with a
// character a URL must percent-encode ("/", "#", "?").
var (
	urlParseError = regexp.MustCompile(`parse "((?:[^"\\]|\\.)*)": `)
	invalidPort   = regexp.MustCompile(`invalid port "(?:[^"\\]|\\.)*" after host`)
	invalidEscape = regexp.MustCompile(`invalid URL escape "(?:[^"\\]|\\.)*"`)
)

// missingEquals finds lib/pq's error for a key=value connection string
// with a word that is no setting, which it quotes: the rest of a password
// holding an unquoted blank, or a whole URL whose scheme is mistyped or
// missing ("user:password@host/db").
var missingEquals = regexp.MustCompile(`missing "=" after "(?:[^"\\]|\\.)*" in connection info string`)

// serviceLine finds lib/pq's error for a line of a service file it cannot
// read, which it quotes whole (a password on it too).
var serviceLine = regexp.MustCompile(`(line \d+: (?:missing '='|no value before '=') in )"(?:[^"\\]|\\.)*"`)

// redactUnparsedURL withholds all but the scheme of a quoted URL that
// net/url cannot parse: which part of it is the password cannot be told.
func redactUnparsedURL(m string) string {
	sub := urlParseError.FindStringSubmatch(m)
	raw, err := strconv.Unquote(`"` + sub[1] + `"`)
	if err == nil {
		if _, err = url.Parse(raw); err == nil {
			return m // parses: the password rules below apply
		}
	}
	scheme, _, found := strings.Cut(raw, "://")
	if !found || strings.ContainsAny(scheme, `"\`) {
		scheme = ""
	} else {
		scheme += "://"
	}
	return `parse "` + scheme + `REDACTED": `
}

// dsnKey finds a setting's key and its "=", in a key=value pair (with
// blanks around "=": any Unicode blank, as lib/pq skips them) or as a URL's
// query parameter (whose name may be percent-encoded). The value starts
// where the match ends.
var dsnKey = regexp.MustCompile(`(?:^|[^\w%])((?:\w|%[0-9A-Fa-f]{2})+)[\s\v\x{85}\p{Z}]*=[\s\v\x{85}\p{Z}]*`)

// keyName is a setting's name as lib/pq reads it: percent-decoded,
// lower-case.
func keyName(k string) string {
	if u, err := url.QueryUnescape(k); err == nil {
		k = u
	}
	return strings.ToLower(k)
}

// Redact removes secrets from a connection string, or from an error
// message that may contain one, in the forms lib/pq accepts: a URL's
// password (and a gRPC target's, "user:password@host:port" without a
// scheme), and the values of password, sslpassword (the client key's
// passphrase) and, with sslinline, sslkey (the key itself; otherwise a
// file's path), whether key=value pairs (quoted with backslash escapes, or
// unquoted with backslash-escaped blanks; an unterminated quote runs to
// the end) or URL query parameters (named in percent-encoding or not; the
// value runs to the next "&" or line end, as lib/pq takes literal blanks
// there, so a message's text after it on the line goes too). What is not
// secret, such as an sslkey that names a file or the parameters after a
// secret one, stays. A URL quoted in net/url's error because it does not
// parse (a password with an unencoded "/", "#" or "?") is withheld but
// for its scheme, and so is the "port" such an error names; so is the
// word lib/pq's `missing "=" after "…"` quotes of a key=value string (a
// piece of a password holding an unquoted blank, or a URL without its
// scheme), and the line of a service file lib/pq quotes because it cannot
// read it.
func Redact(s string) string {
	s = urlParseError.ReplaceAllStringFunc(s, redactUnparsedURL)
	s = invalidPort.ReplaceAllString(s, `invalid port "REDACTED" after host`)
	s = invalidEscape.ReplaceAllString(s, `invalid URL escape "REDACTED"`)
	s = missingEquals.ReplaceAllString(s, `missing "=" after "REDACTED" in connection info string`)
	s = serviceLine.ReplaceAllString(s, `${1}"REDACTED"`)
	s = dsnUserPassword.ReplaceAllString(s, "${1}REDACTED@")
	s = redactTargetPasswords(s)
	inline := false
	for _, m := range dsnKey.FindAllStringSubmatch(s, -1) {
		if keyName(m[1]) == "sslinline" {
			inline = true
		}
	}
	var b strings.Builder
	for {
		m := dsnKey.FindStringSubmatchIndex(s)
		if m == nil {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:m[1]])
		name := keyName(s[m[2]:m[3]])
		if name != "password" && name != "sslpassword" && (name != "sslkey" || !inline) {
			s = s[m[1]:]
			continue
		}
		inQuery := m[2] > m[0] && (s[m[0]] == '?' || s[m[0]] == '&')
		end := secretEnd(s, m[1], inQuery)
		b.WriteString("REDACTED")
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

package schema

import (
	"fmt"
	"regexp"

	"github.com/lib/pq"
)

// DefaultName is the PostgreSQL schema txhistory uses when no other name is
// configured (see WithSchema).
const DefaultName = "txhistory"

// MigrationTable is the table, inside the target schema, that records which
// migrations have been applied. Migrate creates it on first use and never
// drops it, not even when migrating down to version 0.
const MigrationTable = "txhistory_migration"

// maxNameLen is PostgreSQL's identifier limit (NAMEDATALEN-1) in bytes.
// Longer names are silently truncated by the server, which would make two
// different configured names address the same schema.
const maxNameLen = 63

var namePattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// NameError reports a schema name that ValidateName rejected. Match it with
// errors.As.
type NameError struct {
	// Name is the rejected name, exactly as given.
	Name string
	// Reason says which rule the name broke.
	Reason string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("schema: invalid schema name %q: %s", e.Name, e.Reason)
}

// ValidateName reports whether name may be used as a txhistory schema name.
// A valid name is 1 to 63 bytes of lower-case ASCII letters, digits and
// underscores, and does not start with a digit, so it is never folded to
// another case nor truncated by the server. Names starting with "pg_" are
// reserved by PostgreSQL and rejected too. SQL key words (order, user,
// select) are valid: txhistory quotes the name wherever it writes it
// (Qualify), and so must SQL of yours that names it (SELECT … FROM
// "order".token_history).
//
// The error, if any, is a *NameError.
func ValidateName(name string) error {
	reason := ""
	switch {
	case name == "":
		reason = "must not be empty"
	case len(name) > maxNameLen:
		reason = fmt.Sprintf("is %d bytes long, the limit is %d", len(name), maxNameLen)
	case name[0] >= '0' && name[0] <= '9':
		reason = "must not start with a digit"
	case !namePattern.MatchString(name):
		reason = "may contain only lower-case ASCII letters, digits and underscores"
	case len(name) >= 3 && name[:3] == "pg_":
		reason = `the "pg_" prefix is reserved by PostgreSQL`
	default:
		return nil
	}
	return &NameError{Name: name, Reason: reason}
}

// Qualify returns table qualified by schemaName, each part quoted as an
// identifier, ready to be put into SQL text:
//
//	schema.Qualify("txhistory", "checkpoint") // "txhistory"."checkpoint"
//
// Qualify does not validate its arguments; quoting makes any string safe to
// embed, but callers should have checked schemaName with ValidateName once
// when it was configured.
func Qualify(schemaName, table string) string {
	return pq.QuoteIdentifier(schemaName) + "." + pq.QuoteIdentifier(table)
}

// Package pglist passes a list of identifiers (update ids, contract ids,
// synchronizer ids) to PostgreSQL as one text parameter that the statement
// splits with string_to_array, rather than as a text[] parameter.
//
// PostgreSQL 15 parses an array literal character by character, at about
// 20 ns a character: 500 update ids of 68 characters cost 0.7 ms before the
// statement runs. The same ids joined into one text value cost about a
// quarter of that, and the statement reads the same text[].
package pglist

import (
	"fmt"
	"strings"

	"github.com/lib/pq"
)

// sep separates the identifiers in the parameter: the ASCII unit
// separator, which identifiers do not contain.
const sep = "\x1f"

// Param returns an SQL expression of type text[] that holds ids, read from
// parameter $n, and the value to pass as that parameter. The ids are joined
// into one text value split by string_to_array; a list that could not come
// back intact that way (an empty id, or one containing U+001F) is passed as
// a text[] parameter instead, so every list gives the same result.
func Param(n int, ids []string) (expr string, arg any) {
	size := 0
	for _, id := range ids {
		if id == "" || strings.Contains(id, sep) {
			return fmt.Sprintf("$%d::text[]", n), pq.Array(ids)
		}
		size += len(id) + len(sep)
	}
	var b strings.Builder
	b.Grow(size)
	for i, id := range ids {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(id)
	}
	return fmt.Sprintf(`string_to_array($%d, E'\x1f')`, n), b.String()
}

package tokenstd

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lib/pq"
	"github.com/shopspring/decimal"
)

// History writes its holdings and entries with COPY (copyIn). lib/pq takes
// a COPY row as the values of one Exec call, and database/sql converts and
// copies every value of every call: with some twenty columns that was
// about as much of the ingester's CPU as rendering the rows. So copyIn
// renders each row into one string and hands lib/pq that string as a
// single value, in a COPY whose fields end at byte 0x01 and whose NULL is
// byte 0x02 (copyDelimited). lib/pq escapes backslashes, tabs and line
// ends inside the value as COPY's text format wants, and passes every
// other byte through, so PostgreSQL splits the row where copyRow put the
// separators and reads each field back as it was rendered.
//
// A value that itself holds byte 0x01 or 0x02 would split a field, so
// copyRow counts both bytes in every rendered row; from the first row
// with more than it put there on, copyIn ends that COPY and sends the
// rest the ordinary way, one value per column (copyRow.values), in a
// second COPY. JSON fields never hold them raw: appendMeta escapes every
// control character.
const (
	copyDelim = 0x01
	copyNull  = 0x02
)

// copyDelimited is appended to "COPY table (columns) FROM STDIN" for rows
// rendered by copyRow.
const copyDelimited = ` WITH (DELIMITER E'\x01', NULL E'\x02')`

// copyStatement returns the COPY statement for the columns of table
// (qualified), with copyDelimited when delimited.
func copyStatement(table string, cols []string, delimited bool) string {
	var b strings.Builder
	b.WriteString("COPY ")
	b.WriteString(table)
	b.WriteString(" (")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pq.QuoteIdentifier(c))
	}
	b.WriteString(") FROM STDIN")
	if delimited {
		b.WriteString(copyDelimited)
	}
	return b.String()
}

// copyRow receives the fields of one COPY row, in column order. Rendering
// (the default) appends them to line; with values set it collects them in
// vals for lib/pq to encode, one Exec value per column.
type copyRow struct {
	values bool
	line   []byte
	vals   []any
	fields int // fields rendered into line
	nulls  int // of which NULL
}

// reset starts a new row, rendered or as values.
func (r *copyRow) reset(values bool) {
	r.values = values
	r.line, r.vals = r.line[:0], r.vals[:0]
	r.fields, r.nulls = 0, 0
}

// field starts a rendered field.
func (r *copyRow) field() {
	if r.fields > 0 {
		r.line = append(r.line, copyDelim)
	}
	r.fields++
}

// clean reports whether the rendered row holds the separators and NULLs
// copyRow put there and no others.
func (r *copyRow) clean() bool {
	return bytes.Count(r.line, []byte{copyDelim}) == r.fields-1 && bytes.Count(r.line, []byte{copyNull}) == r.nulls
}

func (r *copyRow) text(s string) {
	if r.values {
		r.vals = append(r.vals, s)
		return
	}
	r.field()
	r.line = append(r.line, s...)
}

func (r *copyRow) null() {
	if r.values {
		r.vals = append(r.vals, nil)
		return
	}
	r.field()
	r.line = append(r.line, copyNull)
	r.nulls++
}

func (r *copyRow) int(v int64) {
	if r.values {
		r.vals = append(r.vals, v)
		return
	}
	r.field()
	r.line = strconv.AppendInt(r.line, v, 10)
}

func (r *copyRow) time(t time.Time) {
	if r.values {
		r.vals = append(r.vals, t.Format(timeLayout))
		return
	}
	r.field()
	r.line = t.AppendFormat(r.line, timeLayout)
}

func (r *copyRow) decimal(d decimal.Decimal) {
	if r.values {
		r.vals = append(r.vals, d.String())
		return
	}
	r.field()
	r.line = appendDecimal(r.line, d)
}

// appendDecimal appends d as d.String() renders it. Coefficients of up to
// 15 digits (every amount of a transfer, in practice) are rendered from
// their int64 here; String goes through math/big, about a microsecond a
// field.
func appendDecimal(dst []byte, d decimal.Decimal) []byte {
	exp := d.Exponent()
	if d.NumDigits() > 15 || exp < -30 || exp > 30 {
		return append(dst, d.String()...)
	}
	c := d.CoefficientInt64()
	if c == 0 {
		return append(dst, '0')
	}
	if c < 0 {
		dst = append(dst, '-')
		c = -c
	}
	if exp >= 0 {
		dst = strconv.AppendInt(dst, c, 10)
		for range exp {
			dst = append(dst, '0')
		}
		return dst
	}
	var buf [20]byte
	digits := strconv.AppendInt(buf[:0], c, 10)
	scale := int(-exp)
	lead := 0 // zeros between the point and the digits
	if len(digits) > scale {
		dst = append(dst, digits[:len(digits)-scale]...)
		digits = digits[len(digits)-scale:]
	} else {
		dst = append(dst, '0')
		lead = scale - len(digits)
	}
	digits = bytes.TrimRight(digits, "0")
	if len(digits) > 0 {
		dst = append(dst, '.')
		for range lead {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	}
	return dst
}

// meta is a jsonb field holding m ({} when nil).
func (r *copyRow) meta(m Metadata) {
	if r.values {
		r.vals = append(r.vals, metaJSON(m))
		return
	}
	r.field()
	r.line = appendMeta(r.line, m)
}

// cids is a text[] field holding the contract ids of hs.
func (r *copyRow) cids(hs []Holding) {
	if r.values {
		r.vals = append(r.vals, cidsLiteral(hs))
		return
	}
	r.field()
	r.line = appendCids(r.line, hs)
}

// cidsLiteral returns the contract ids of hs as a text array literal.
func cidsLiteral(hs []Holding) string { return string(appendCids(nil, hs)) }

// appendCids appends the contract ids of hs as a text array literal, each
// id double-quoted with its backslashes and double quotes escaped, as
// pq.StringArray writes them. PostgreSQL parses such a literal several
// times faster than a jsonb array unpacked by a subquery.
func appendCids(b []byte, hs []Holding) []byte {
	b = append(b, '{')
	for i, hd := range hs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		s := hd.ContractID
		for j := 0; j < len(s); j++ {
			if c := s[j]; c == '"' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, s[j])
		}
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendMeta appends m as a JSON object with its keys sorted, as
// metaJSON gives it, without reflection. Control characters, quotes and
// backslashes are escaped; a key or value that is not valid UTF-8 goes
// through encoding/json, which replaces the bad bytes.
func appendMeta(b []byte, m Metadata) []byte {
	if len(m) == 0 {
		return append(b, "{}"...)
	}
	var arr [8]string
	keys := arr[:0]
	for k, v := range m {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return append(b, metaJSON(m)...)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s, valid UTF-8, as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

package ledger

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Kind is the kind of a Daml value.
type Kind uint8

// The kinds of Daml values, in the order of the Ledger API's Value oneof.
const (
	KindInvalid Kind = iota // the zero Value: no value at all (a missing field)
	KindUnit
	KindBool
	KindInt64
	KindDate
	KindTimestamp
	KindNumeric
	KindParty
	KindText
	KindContractID
	KindOptional
	KindList
	KindTextMap
	KindGenMap
	KindRecord
	KindVariant
	KindEnum
)

var kindNames = [...]string{
	"invalid", "unit", "bool", "int64", "date", "timestamp", "numeric", "party", "text",
	"contract_id", "optional", "list", "text_map", "gen_map", "record", "variant", "enum",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Value is a Daml value as the Ledger API delivers it. The zero Value is
// invalid: it is what a missing record field or an unset proto field decodes
// to, and every accessor on it returns an error.
//
// Values are immutable once built; accessors never panic. Each typed accessor
// returns a *ValueError when the value has another kind, so callers can turn
// malformed input into a clear error instead of a crash.
//
// Values are not comparable with ==, which would compare where a composite
// value's elements are kept rather than the elements. Compare them with
// Equal, or with reflect.DeepEqual (as testify's Equal does), which also
// compares every element, label and key.
type Value struct {
	_    [0]func() // makes v == w a compile error
	kind Kind
	i    int64       // bool (0/1), int64, date (days), timestamp (µs)
	s    string      // numeric, party, text, contract id, variant/enum constructor
	id   *Identifier // record, variant or enum type, when the participant sent it
	// elems and keys point to slice headers: a Value is 56 bytes where two
	// slice headers in it would make it 88, and a transfer decodes to some
	// sixty of them. Pointers to headers (not to first elements) keep
	// reflect.DeepEqual, and so testify's Equal, comparing every element.
	// Both are nil when empty. Records of one type share their keys.
	elems *[]Value  // optional (0 or 1), list, record field values, variant payload, text map values, gen map keys and values interleaved
	keys  *[]string // record labels, text map keys; nil for the other kinds
}

// composite returns a value of kind whose elements are *elems and, for a
// record or text map, whose labels or keys are *keys (as long as elems).
// It keeps the headers, not copies.
func composite(kind Kind, id *Identifier, s string, keys *[]string, elems *[]Value) Value {
	v := Value{kind: kind, id: id, s: s}
	if elems != nil && len(*elems) > 0 {
		v.elems = elems
		if keys != nil && len(*keys) > 0 {
			v.keys = keys
		}
	}
	return v
}

// vals returns v's elements (nil if none).
func (v *Value) vals() []Value {
	if v.elems == nil {
		return nil
	}
	return *v.elems
}

// labels returns v's record labels or text map keys (nil if none).
func (v *Value) labels() []string {
	if v.keys == nil {
		return nil
	}
	return *v.keys
}

// Equal reports whether v and w are the same value as the Ledger API
// delivered them: of the same kind, with the same type identifier (or none
// for both), the same scalar (numerics as their text: "1.0" is not
// "1.00"), constructor, labels and keys, and Equal elements in the same
// order. A record field without a label equals one whose label is empty,
// as on the wire.
func (v Value) Equal(w Value) bool {
	if v.kind != w.kind || v.i != w.i || v.s != w.s {
		return false
	}
	if (v.id == nil) != (w.id == nil) || v.id != nil && *v.id != *w.id {
		return false
	}
	ve, we := v.vals(), w.vals()
	if len(ve) != len(we) {
		return false
	}
	vl, wl := v.labels(), w.labels()
	for i := range ve {
		if labelAt(vl, i) != labelAt(wl, i) || !ve[i].Equal(we[i]) {
			return false
		}
	}
	return true
}

// labelAt is labels[i], or "" for a value without labels.
func labelAt(labels []string, i int) string {
	if labels == nil {
		return ""
	}
	return labels[i]
}

// Field is one labelled field of a record.
type Field struct {
	Label string
	Value Value
}

// Entry is one entry of a text map or gen map. For a text map, Key is a Text value.
type Entry struct {
	Key   Value
	Value Value
}

// ValueError says that a value did not have the expected shape.
type ValueError struct {
	Path string // where in the value, e.g. "transfer.amount"; may be empty
	Want string
	Got  Kind
	Msg  string
}

func (e *ValueError) Error() string {
	var b strings.Builder
	b.WriteString("ledger: value")
	if e.Path != "" {
		b.WriteString(" at ")
		b.WriteString(e.Path)
	}
	if e.Want != "" {
		fmt.Fprintf(&b, ": want %s, got %s", e.Want, e.Got)
	}
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	return b.String()
}

func (v Value) wrong(want string) error { return &ValueError{Want: want, Got: v.kind} }

// Constructors.

// Unit returns the unit value.
func Unit() Value { return Value{kind: KindUnit} }

// Bool returns a Bool value.
func Bool(b bool) Value {
	if b {
		return Value{kind: KindBool, i: 1}
	}
	return Value{kind: KindBool}
}

// Int64 returns an Int64 value.
func Int64(i int64) Value { return Value{kind: KindInt64, i: i} }

// Date returns a Date value for the day of t (UTC).
func Date(t time.Time) Value {
	return Value{kind: KindDate, i: int64(t.UTC().Truncate(24*time.Hour).Unix() / 86400)}
}

// DateDays returns a Date value from days since the Unix epoch.
func DateDays(days int32) Value { return Value{kind: KindDate, i: int64(days)} }

// Timestamp returns a Timestamp value; t is truncated to microseconds.
func Timestamp(t time.Time) Value { return Value{kind: KindTimestamp, i: t.UnixMicro()} }

// TimestampMicros returns a Timestamp value from microseconds since the Unix epoch.
func TimestampMicros(us int64) Value { return Value{kind: KindTimestamp, i: us} }

// Numeric returns a Numeric value holding the decimal text s exactly as given.
// It does not validate s: the wire carries text, and a malformed numeric is
// reported by the Decimal accessor.
func Numeric(s string) Value { return Value{kind: KindNumeric, s: s} }

// NumericOf returns a Numeric value for d.
func NumericOf(d decimal.Decimal) Value { return Value{kind: KindNumeric, s: d.String()} }

// Party returns a Party value.
func Party(p string) Value { return Value{kind: KindParty, s: p} }

// Text returns a Text value.
func Text(s string) Value { return Value{kind: KindText, s: s} }

// ContractID returns a ContractId value.
func ContractID(cid string) Value { return Value{kind: KindContractID, s: cid} }

// None returns an empty Optional.
func None() Value { return Value{kind: KindOptional} }

// Some returns an Optional holding v.
func Some(v Value) Value { return composite(KindOptional, nil, "", nil, &[]Value{v}) }

// List returns a List value.
func List(elems ...Value) Value { return composite(KindList, nil, "", nil, &elems) }

// TextMap returns a TextMap value with the entries in the order given.
func TextMap(entries ...Field) Value {
	keys, elems := make([]string, len(entries)), make([]Value, len(entries))
	for i, e := range entries {
		keys[i], elems[i] = e.Label, e.Value
	}
	return composite(KindTextMap, nil, "", &keys, &elems)
}

// TextMapOf returns a TextMap of Text values, keys sorted.
func TextMapOf(m map[string]string) Value {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fields := make([]Field, len(keys))
	for i, k := range keys {
		fields[i] = Field{Label: k, Value: Text(m[k])}
	}
	return TextMap(fields...)
}

// GenMap returns a GenMap value.
func GenMap(entries ...Entry) Value {
	elems := make([]Value, 2*len(entries))
	for i, e := range entries {
		elems[2*i], elems[2*i+1] = e.Key, e.Value
	}
	return composite(KindGenMap, nil, "", nil, &elems)
}

// Record returns a Record value. id may be nil.
func Record(id *Identifier, fields ...Field) Value {
	keys, elems := make([]string, len(fields)), make([]Value, len(fields))
	for i, f := range fields {
		keys[i], elems[i] = f.Label, f.Value
	}
	return composite(KindRecord, id, "", &keys, &elems)
}

// F is shorthand for a record field.
func F(label string, v Value) Field { return Field{Label: label, Value: v} }

// Variant returns a Variant value. id may be nil.
func Variant(id *Identifier, constructor string, v Value) Value {
	return composite(KindVariant, id, constructor, nil, &[]Value{v})
}

// Enum returns an Enum value. id may be nil.
func Enum(id *Identifier, constructor string) Value {
	return Value{kind: KindEnum, id: id, s: constructor}
}

// Accessors.

// Kind returns the kind of v; KindInvalid for the zero Value.
func (v Value) Kind() Kind { return v.kind }

// IsValid reports whether v holds a value.
func (v Value) IsValid() bool { return v.kind != KindInvalid }

// TypeID returns the record, variant or enum type identifier, if the participant sent it.
func (v Value) TypeID() (Identifier, bool) {
	if v.id == nil {
		return Identifier{}, false
	}
	return *v.id, true
}

// AsBool returns the boolean.
func (v Value) AsBool() (bool, error) {
	if v.kind != KindBool {
		return false, v.wrong("bool")
	}
	return v.i != 0, nil
}

// AsInt64 returns the integer.
func (v Value) AsInt64() (int64, error) {
	if v.kind != KindInt64 {
		return 0, v.wrong("int64")
	}
	return v.i, nil
}

// Daml's dates and timestamps lie in the years 1 to 9999; the wire carries
// any int32 of days and int64 of microseconds.
const (
	minDateDays      = -719162            // 0001-01-01
	maxDateDays      = 2932896            // 9999-12-31
	minTimestampUS   = -62135596800000000 // 0001-01-01T00:00:00Z
	maxTimestampUS   = 253402300799999999 // 9999-12-31T23:59:59.999999Z
	damlTimeRangeMsg = "outside Daml's range (years 1 to 9999)"
)

// AsDate returns the date as midnight UTC. A date outside Daml's range
// (years 1 to 9999), which no participant sends, is a *ValueError.
func (v Value) AsDate() (time.Time, error) {
	if v.kind != KindDate {
		return time.Time{}, v.wrong("date")
	}
	if v.i < minDateDays || v.i > maxDateDays {
		return time.Time{}, &ValueError{Msg: fmt.Sprintf("date of %d days since 1970-01-01 is %s", v.i, damlTimeRangeMsg)}
	}
	return v.date(), nil
}

func (v Value) date() time.Time { return time.Unix(v.i*86400, 0).UTC() }

// AsTimestamp returns the timestamp in UTC with microsecond precision. A
// timestamp outside Daml's range (years 1 to 9999), which no participant
// sends, is a *ValueError: such a time cannot be written as JSON or RFC 3339
// text.
func (v Value) AsTimestamp() (time.Time, error) {
	if v.kind != KindTimestamp {
		return time.Time{}, v.wrong("timestamp")
	}
	if v.i < minTimestampUS || v.i > maxTimestampUS {
		return time.Time{}, &ValueError{Msg: fmt.Sprintf("timestamp of %d µs since 1970-01-01 is %s", v.i, damlTimeRangeMsg)}
	}
	return time.UnixMicro(v.i).UTC(), nil
}

// AsNumeric returns the numeric's exact text as the participant sent it.
func (v Value) AsNumeric() (string, error) {
	if v.kind != KindNumeric {
		return "", v.wrong("numeric")
	}
	return v.s, nil
}

// AsDecimal parses the numeric exactly. Malformed text is an error, never a
// rounded number.
func (v Value) AsDecimal() (decimal.Decimal, error) {
	s, err := v.AsNumeric()
	if err != nil {
		return decimal.Decimal{}, err
	}
	return ParseDecimal(s)
}

// AsParty returns the party id.
func (v Value) AsParty() (string, error) {
	if v.kind != KindParty {
		return "", v.wrong("party")
	}
	return v.s, nil
}

// AsText returns the text.
func (v Value) AsText() (string, error) {
	if v.kind != KindText {
		return "", v.wrong("text")
	}
	return v.s, nil
}

// AsContractID returns the contract id.
func (v Value) AsContractID() (string, error) {
	if v.kind != KindContractID {
		return "", v.wrong("contract_id")
	}
	return v.s, nil
}

// AsOptional returns the optional's content and whether it is Some.
func (v Value) AsOptional() (Value, bool, error) {
	if v.kind != KindOptional {
		return Value{}, false, v.wrong("optional")
	}
	if len(v.vals()) == 0 {
		return Value{}, false, nil
	}
	return v.vals()[0], true, nil
}

// AsList returns the list's elements. The slice must not be modified.
func (v Value) AsList() ([]Value, error) {
	if v.kind != KindList {
		return nil, v.wrong("list")
	}
	return v.vals(), nil
}

// AsTextMap returns the text map's entries in wire order.
func (v Value) AsTextMap() ([]Field, error) {
	if v.kind != KindTextMap {
		return nil, v.wrong("text_map")
	}
	return v.fields(), nil
}

// TextMapLen returns the number of entries of a text map. With TextMapAt
// it reads a text map without the slice AsTextMap allocates.
func (v Value) TextMapLen() (int, error) {
	if v.kind != KindTextMap {
		return 0, v.wrong("text_map")
	}
	return len(v.vals()), nil
}

// TextMapAt returns the i-th entry of a text map in wire order; false if v
// is not a text map or i is out of range.
func (v Value) TextMapAt(i int) (Field, bool) {
	if v.kind != KindTextMap || i < 0 || i >= len(v.vals()) {
		return Field{}, false
	}
	return v.fieldAt(i), true
}

// fields returns a record's fields or a text map's entries, copied.
func (v Value) fields() []Field {
	out := make([]Field, len(v.vals()))
	for i := range out {
		out[i] = v.fieldAt(i)
	}
	return out
}

// fieldAt returns the i-th label or key and value of a record or text map,
// which the caller has checked has one. A value without keys (a record
// built without labels) gives empty labels.
func (v Value) fieldAt(i int) Field {
	f := Field{Value: v.vals()[i]}
	if v.keys != nil {
		f.Label = v.labels()[i]
	}
	return f
}

// AsGenMap returns the gen map's entries in wire order.
func (v Value) AsGenMap() ([]Entry, error) {
	if v.kind != KindGenMap {
		return nil, v.wrong("gen_map")
	}
	vals := v.vals()
	out := make([]Entry, len(vals)/2)
	for i := range out {
		out[i] = Entry{Key: vals[2*i], Value: vals[2*i+1]}
	}
	return out, nil
}

// AsRecord returns the record's fields in wire order.
func (v Value) AsRecord() ([]Field, error) {
	if v.kind != KindRecord {
		return nil, v.wrong("record")
	}
	return v.fields(), nil
}

// FieldAt returns the i-th field of a record, in wire order, without
// copying the others as AsRecord does. The second result is false if v is
// not a record or has no field i.
func (v Value) FieldAt(i int) (Field, bool) {
	if v.kind != KindRecord || i < 0 || i >= len(v.vals()) {
		return Field{}, false
	}
	return v.fieldAt(i), true
}

// LabelAt returns the label of a record's i-th field, in wire order, without
// copying its value as FieldAt does. The second result is false if v is not
// a record or has no field i; a record built without labels gives "".
func (v Value) LabelAt(i int) (string, bool) {
	if v.kind != KindRecord || i < 0 || i >= len(v.vals()) {
		return "", false
	}
	if v.keys == nil {
		return "", true
	}
	return v.labels()[i], true
}

// NumFields returns the number of fields of a record (0 for other kinds).
func (v Value) NumFields() int {
	if v.kind != KindRecord {
		return 0
	}
	return len(v.vals())
}

// Field returns the record field with the given label. It needs a verbose
// stream: records of a non-verbose stream have no labels. The second result is
// false if v is not a record or has no such field.
func (v Value) Field(label string) (Value, bool) {
	if v.kind != KindRecord {
		return Value{}, false
	}
	vals := v.vals()
	for i, l := range v.labels() {
		if l == label {
			return vals[i], true
		}
	}
	return Value{}, false
}

// Get returns the record field with the given label, or a *ValueError naming
// the missing field.
func (v Value) Get(label string) (Value, error) {
	if v.kind != KindRecord {
		return Value{}, &ValueError{Path: label, Want: "record", Got: v.kind}
	}
	f, ok := v.Field(label)
	if !ok {
		return Value{}, &ValueError{Path: label, Msg: "missing record field"}
	}
	return f, nil
}

// AsVariant returns the constructor and payload of a variant.
func (v Value) AsVariant() (string, Value, error) {
	if v.kind != KindVariant {
		return "", Value{}, v.wrong("variant")
	}
	var payload Value
	if len(v.vals()) > 0 {
		payload = v.vals()[0]
	}
	return v.s, payload, nil
}

// AsEnum returns the constructor of an enum.
func (v Value) AsEnum() (string, error) {
	if v.kind != KindEnum {
		return "", v.wrong("enum")
	}
	return v.s, nil
}

// String renders v compactly for logs and test failures.
func (v Value) String() string {
	var b strings.Builder
	v.write(&b)
	return b.String()
}

func (v Value) write(b *strings.Builder) {
	switch v.kind {
	case KindInvalid:
		b.WriteString("<invalid>")
	case KindUnit:
		b.WriteString("()")
	case KindBool:
		if v.i != 0 {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case KindInt64:
		fmt.Fprintf(b, "%d", v.i)
	case KindDate:
		b.WriteString(v.date().Format("2006-01-02"))
	case KindTimestamp:
		b.WriteString(time.UnixMicro(v.i).UTC().Format(time.RFC3339Nano))
	case KindNumeric:
		b.WriteString(v.s)
	case KindParty, KindText, KindContractID:
		fmt.Fprintf(b, "%q", v.s)
	case KindOptional:
		if len(v.vals()) == 0 {
			b.WriteString("None")
		} else {
			b.WriteString("Some(")
			v.vals()[0].write(b)
			b.WriteString(")")
		}
	case KindList:
		b.WriteString("[")
		for i, e := range v.vals() {
			if i > 0 {
				b.WriteString(", ")
			}
			e.write(b)
		}
		b.WriteString("]")
	case KindTextMap, KindRecord:
		b.WriteString("{")
		for i, k := range v.labels() {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k)
			b.WriteString(": ")
			v.vals()[i].write(b)
		}
		b.WriteString("}")
	case KindGenMap:
		b.WriteString("{")
		for i := 0; i+1 < len(v.vals()); i += 2 {
			if i > 0 {
				b.WriteString(", ")
			}
			v.vals()[i].write(b)
			b.WriteString(": ")
			v.vals()[i+1].write(b)
		}
		b.WriteString("}")
	case KindVariant:
		b.WriteString(v.s)
		b.WriteString("(")
		if len(v.vals()) > 0 {
			v.vals()[0].write(b)
		}
		b.WriteString(")")
	case KindEnum:
		b.WriteString(v.s)
	}
}

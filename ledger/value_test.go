package ledger_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

func TestValueRoundTripThroughProto(t *testing.T) {
	id := ledger.MustParseIdentifier("pkg:Mod.Sub:Rec")
	ts := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	v := ledger.Record(&id,
		ledger.F("unit", ledger.Unit()),
		ledger.F("b", ledger.Bool(true)),
		ledger.F("i", ledger.Int64(-42)),
		ledger.F("d", ledger.Date(ts)),
		ledger.F("ts", ledger.Timestamp(ts)),
		ledger.F("n", ledger.Numeric("12.3400000000")),
		ledger.F("p", ledger.Party("alice::1220")),
		ledger.F("t", ledger.Text("hello")),
		ledger.F("c", ledger.ContractID("00abc")),
		ledger.F("none", ledger.None()),
		ledger.F("some", ledger.Some(ledger.Text("x"))),
		ledger.F("l", ledger.List(ledger.Int64(1), ledger.Int64(2))),
		ledger.F("tm", ledger.TextMapOf(map[string]string{"b": "2", "a": "1"})),
		ledger.F("gm", ledger.GenMap(ledger.Entry{Key: ledger.Int64(1), Value: ledger.Text("one")})),
		ledger.F("v", ledger.Variant(&id, "Ctor", ledger.Int64(7))),
		ledger.F("e", ledger.Enum(&id, "Red")),
	)
	wire, err := proto.Marshal(v.Proto())
	require.NoError(t, err)
	var pbv = v.Proto()
	require.NoError(t, proto.Unmarshal(wire, pbv))
	back, err := ledger.ValueFromProto(pbv)
	require.NoError(t, err)
	require.Equal(t, v.String(), back.String())

	got, err := back.Get("ts")
	require.NoError(t, err)
	gotTS, err := got.AsTimestamp()
	require.NoError(t, err)
	require.True(t, ts.Equal(gotTS))
	n, _ := back.Get("n")
	d, err := n.AsDecimal()
	require.NoError(t, err)
	require.Equal(t, "12.34", d.String())
	tm, _ := back.Get("tm")
	entries, err := tm.AsTextMap()
	require.NoError(t, err)
	require.Equal(t, "a", entries[0].Label, "TextMapOf sorts keys")
	n2, err := tm.TextMapLen()
	require.NoError(t, err)
	require.Equal(t, len(entries), n2)
	for i, e := range entries {
		at, ok := tm.TextMapAt(i)
		require.True(t, ok)
		require.Equal(t, e.Label, at.Label, "TextMapAt(%d) reads what AsTextMap returns", i)
		require.Equal(t, e.Value.String(), at.Value.String())
	}
	_, ok := tm.TextMapAt(n2)
	require.False(t, ok, "out of range")
	_, ok = tm.TextMapAt(-1)
	require.False(t, ok, "negative")
	_, err = back.TextMapLen()
	require.EqualError(t, err, "ledger: value: want text_map, got record")
	_, ok = back.TextMapAt(0)
	require.False(t, ok, "a record is not a text map")
	vr, _ := back.Get("v")
	ctor, payload, err := vr.AsVariant()
	require.NoError(t, err)
	require.Equal(t, "Ctor", ctor)
	require.Equal(t, "7", payload.String())
	typ, ok := back.TypeID()
	require.True(t, ok)
	require.Equal(t, id, typ)
}

func TestAccessorsRejectWrongKinds(t *testing.T) {
	v := ledger.Text("not a number")
	_, err := v.AsDecimal()
	var ve *ledger.ValueError
	require.True(t, errors.As(err, &ve))
	require.Equal(t, ledger.KindText, ve.Got)
	require.EqualError(t, err, "ledger: value: want numeric, got text")

	var zero ledger.Value
	require.False(t, zero.IsValid())
	_, err = zero.AsParty()
	require.Error(t, err)
	_, err = zero.Get("x")
	require.Error(t, err)
	rec := ledger.Record(nil, ledger.F("a", ledger.Int64(1)))
	_, err = rec.Get("missing")
	require.EqualError(t, err, "ledger: value at missing: missing record field")
	_, _, err = ledger.Int64(1).AsOptional()
	require.Error(t, err)
	_, err = ledger.Int64(1).AsList()
	require.Error(t, err)
	_, err = ledger.Int64(1).AsRecord()
	require.Error(t, err)
}

func TestParseDecimalIsStrict(t *testing.T) {
	for _, ok := range []string{"0", "1.5", "-0.0000000001", "12345678901234567890123456.7890123456", "007.10"} {
		_, err := ledger.ParseDecimal(ok)
		require.NoError(t, err, ok)
	}
	for _, bad := range []string{"", "1e5", ".5", "-.5", ".", "-", "-.", "+1", "1,5", " 1", "NaN", "Infinity", "0x10", "1.2.3", "123456789012345678901234567890123456789"} {
		_, err := ledger.ParseDecimal(bad)
		require.Error(t, err, bad)
	}
}

// A participant renders every Numeric with Daml's Numeric.toString: the
// integral part, the point, then exactly scale digits, so a Numeric 0 ends
// with the point ("5.", "-5."), on both the short and the general path.
func TestParseDecimalScaleZeroAsTheParticipantSendsIt(t *testing.T) {
	for text, want := range map[string]string{"5.": "5", "-5.": "-5", "0.": "0", "-0.": "0",
		"99999999999999999999999999999999999999.": "99999999999999999999999999999999999999"} {
		d, err := ledger.Numeric(text).AsDecimal()
		require.NoError(t, err, "participant text %q", text)
		require.Equal(t, want, d.String(), text)
	}
	d, err := ledger.ParseDecimal("0.1")
	require.NoError(t, err)
	sum := d.Add(d).Add(d)
	require.Equal(t, "0.3", sum.String(), "exact, not binary floating point")
}

func TestValueNestingIsBounded(t *testing.T) {
	v := ledger.Int64(1)
	for range 101 {
		v = ledger.List(v)
	}
	_, err := ledger.ValueFromProto(v.Proto())
	require.ErrorContains(t, err, "nested deeper than 100")
}

func TestParseIdentifier(t *testing.T) {
	id, err := ledger.ParseIdentifier("#splice-api-token-holding-v1:Splice.Api.Token.HoldingV1:Holding")
	require.NoError(t, err)
	require.True(t, id.IsPackageNameRef())
	require.True(t, id.SameEntity(ledger.Identifier{PackageID: "abc", ModuleName: "Splice.Api.Token.HoldingV1", EntityName: "Holding"}))
	for _, bad := range []string{"", "a:b", "a::c", "a:b:c:d"} {
		_, err := ledger.ParseIdentifier(bad)
		require.Error(t, err, bad)
	}
}

// Daml's dates and timestamps lie in the years 1 to 9999; the accessors
// refuse anything else the wire can carry, and String still prints it.
func TestTimesOutsideDamlsRangeAreRefused(t *testing.T) {
	first := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	last := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
	for _, ok := range []time.Time{first, last, time.Unix(0, 0).UTC()} {
		got, err := ledger.Timestamp(ok).AsTimestamp()
		require.NoError(t, err)
		require.True(t, ok.Equal(got), "%s", ok)
	}
	for _, us := range []int64{first.UnixMicro() - 1, last.UnixMicro() + 1, math.MaxInt64, math.MinInt64} {
		_, err := ledger.TimestampMicros(us).AsTimestamp()
		var ve *ledger.ValueError
		require.True(t, errors.As(err, &ve), "timestamp %d µs: %v", us, err)
		require.Contains(t, err.Error(), "outside Daml's range")
		require.NotEmpty(t, ledger.TimestampMicros(us).String())
	}
	firstDay, lastDay := int32(first.Unix()/86400), int32(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).Unix()/86400)
	for _, d := range []int32{firstDay, lastDay} {
		_, err := ledger.DateDays(d).AsDate()
		require.NoError(t, err)
	}
	for _, d := range []int32{firstDay - 1, lastDay + 1, math.MaxInt32, math.MinInt32} {
		_, err := ledger.DateDays(d).AsDate()
		require.ErrorContains(t, err, "outside Daml's range", "date %d", d)
	}
}

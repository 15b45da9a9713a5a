package ledger_test

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// TestValueEqual: Equal compares what a value holds, element by element,
// not where its elements are kept.
func TestValueEqual(t *testing.T) {
	id := &ledger.Identifier{PackageID: "p", ModuleName: "M", EntityName: "T"}
	other := &ledger.Identifier{PackageID: "p", ModuleName: "M", EntityName: "U"}
	rec := func(id *ledger.Identifier, y ledger.Value) ledger.Value {
		return ledger.Record(id, ledger.F("x", ledger.Text("a")), ledger.F("y", y))
	}
	same := [][2]ledger.Value{
		{ledger.Value{}, ledger.Value{}},
		{ledger.Unit(), ledger.Unit()},
		{ledger.Numeric("1.50"), ledger.Numeric("1.50")},
		{rec(id, ledger.List(ledger.Int64(1), ledger.Int64(2))), rec(&ledger.Identifier{PackageID: "p", ModuleName: "M", EntityName: "T"}, ledger.List(ledger.Int64(1), ledger.Int64(2)))},
		{ledger.Some(ledger.Party("alice::1")), ledger.Some(ledger.Party("alice::1"))},
		{ledger.TextMapOf(map[string]string{"k": "1", "m": "2"}), ledger.TextMapOf(map[string]string{"m": "2", "k": "1"})},
		{ledger.GenMap(ledger.Entry{Key: ledger.Int64(1), Value: ledger.Text("v")}), ledger.GenMap(ledger.Entry{Key: ledger.Int64(1), Value: ledger.Text("v")})},
		{ledger.Variant(id, "C", ledger.Bool(true)), ledger.Variant(id, "C", ledger.Bool(true))},
	}
	for _, p := range same {
		require.True(t, p[0].Equal(p[1]), "%v and %v", p[0], p[1])
		require.True(t, p[1].Equal(p[0]), "%v and %v", p[1], p[0])
	}
	differ := [][2]ledger.Value{
		{ledger.Value{}, ledger.Unit()},
		{ledger.Int64(1), ledger.Int64(2)},
		{ledger.Int64(0), ledger.Bool(false)},
		{ledger.Text("a"), ledger.Party("a")},
		{ledger.Numeric("1.5"), ledger.Numeric("1.50")},
		{rec(id, ledger.List(ledger.Int64(1), ledger.Int64(2))), rec(id, ledger.List(ledger.Int64(1), ledger.Int64(3)))},
		{rec(id, ledger.List(ledger.Int64(1))), rec(id, ledger.List(ledger.Int64(1), ledger.Int64(1)))},
		{rec(id, ledger.Unit()), rec(nil, ledger.Unit())},
		{rec(id, ledger.Unit()), rec(other, ledger.Unit())},
		{rec(id, ledger.Unit()), ledger.Record(id, ledger.F("x", ledger.Text("a")), ledger.F("z", ledger.Unit()))},
		{ledger.None(), ledger.Some(ledger.Unit())},
		{ledger.TextMapOf(map[string]string{"k": "1"}), ledger.TextMapOf(map[string]string{"j": "1"})},
		{ledger.Variant(id, "C", ledger.Unit()), ledger.Variant(id, "D", ledger.Unit())},
		{ledger.Enum(id, "Red"), ledger.Enum(id, "Blue")},
	}
	for _, p := range differ {
		require.False(t, p[0].Equal(p[1]), "%v and %v", p[0], p[1])
		require.False(t, p[1].Equal(p[0]), "%v and %v", p[1], p[0])
	}
}

// TestValueEqualAgreesWithDeepEqual: on random values of every kind, Equal
// holds between two values built alike, and agrees with reflect.DeepEqual
// between values built apart.
func TestValueEqualAgreesWithDeepEqual(t *testing.T) {
	a, b := rand.New(rand.NewPCG(3, 2026)), rand.New(rand.NewPCG(3, 2026))
	c := rand.New(rand.NewPCG(4, 2026))
	equal := 0
	for i := range 3000 {
		depth := i % 4
		v, twin, w := randomValue(a, depth), randomValue(b, depth), randomValue(c, depth)
		require.True(t, v.Equal(twin), "value %d: %v", i, v)
		deep := reflect.DeepEqual(v, w)
		require.Equal(t, deep, v.Equal(w), "value %d: %v and %v", i, v, w)
		if deep {
			equal++
		}
	}
	require.Greater(t, equal, 50, "the random values should sometimes be equal, to check both answers")
}

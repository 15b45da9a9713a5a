package ledger

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestValueSize guards the layout of Value: a transfer decodes to some
// sixty values, so each word added to it costs about 0.5 KB of memory per
// transaction waiting in the Ingester's buffer.
func TestValueSize(t *testing.T) {
	require.Equal(t, uintptr(56), unsafe.Sizeof(Value{}))
}

// TestCompositeKeepsItsSlices: a composite value reads the elements and
// keys it was made from, empty ones included.
func TestCompositeKeepsItsSlices(t *testing.T) {
	keys := []string{"a", "b"}
	elems := []Value{Text("x"), Int64(2)}
	v := composite(KindRecord, nil, "", &keys, &elems)
	require.Equal(t, keys, v.labels())
	require.Equal(t, elems, v.vals())
	require.Same(t, &elems[0], &v.vals()[0], "not a copy")

	empty := composite(KindList, nil, "", nil, &[]Value{})
	require.Nil(t, empty.elems, "an empty list holds no header, as one built from nil")
	require.Equal(t, composite(KindList, nil, "", nil, nil), empty)
	l, err := empty.AsList()
	require.NoError(t, err)
	require.Empty(t, l)

	unlabelled := composite(KindRecord, nil, "", nil, &elems)
	f, ok := unlabelled.FieldAt(1)
	require.True(t, ok)
	require.Equal(t, "", f.Label, "a record built without labels has empty labels")
	require.Equal(t, "2", f.Value.String())
	label, ok := unlabelled.LabelAt(1)
	require.True(t, ok)
	require.Equal(t, "", label)
}

// TestLabelAt reads the labels FieldAt gives, and refuses what FieldAt
// refuses.
func TestLabelAt(t *testing.T) {
	r := Record(nil, F("x", Int64(1)), F("y", Text("b")))
	for i := range r.NumFields() {
		f, ok := r.FieldAt(i)
		require.True(t, ok)
		l, ok := r.LabelAt(i)
		require.True(t, ok)
		require.Equal(t, f.Label, l)
	}
	for _, bad := range []struct {
		v Value
		i int
	}{{r, -1}, {r, 2}, {List(Text("a")), 0}, {TextMapOf(map[string]string{"k": "v"}), 0}} {
		l, ok := bad.v.LabelAt(bad.i)
		require.False(t, ok, "%v field %d", bad.v, bad.i)
		require.Equal(t, "", l)
	}
}

// TestValuesCompareDeeply: reflect.DeepEqual (and so testify's Equal,
// which users' tests apply to decoded transactions) sees every element
// and key of a composite value, not only the first.
func TestValuesCompareDeeply(t *testing.T) {
	a := List(Text("a"), Text("b"))
	require.True(t, reflect.DeepEqual(a, List(Text("a"), Text("b"))))
	require.False(t, reflect.DeepEqual(a, List(Text("a"), Text("c"))), "second element differs")
	require.False(t, reflect.DeepEqual(a, List(Text("a"))), "length differs")
	r := Record(nil, F("x", Int64(1)), F("y", Int64(2)))
	require.False(t, reflect.DeepEqual(r, Record(nil, F("x", Int64(1)), F("z", Int64(2)))), "second label differs")
	require.NotEqual(t, TextMapOf(map[string]string{"k": "1", "m": "2"}), TextMapOf(map[string]string{"k": "1", "m": "3"}))
}

// TestValueEqualUnlabelled: a record decoded without labels (a non-verbose
// stream) equals one whose labels are all empty, as on the wire, and
// differs from one with a label.
func TestValueEqualUnlabelled(t *testing.T) {
	elems := []Value{Int64(1), Int64(2)}
	bare := composite(KindRecord, nil, "", nil, &elems)
	require.True(t, bare.Equal(Record(nil, F("", Int64(1)), F("", Int64(2)))))
	require.True(t, Record(nil, F("", Int64(1)), F("", Int64(2))).Equal(bare))
	require.False(t, bare.Equal(Record(nil, F("", Int64(1)), F("y", Int64(2)))))
	require.False(t, Record(nil, F("x", Int64(1)), F("", Int64(2))).Equal(bare))
}

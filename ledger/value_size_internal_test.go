package ledger

import (
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
	v := composite(KindRecord, nil, "", keys, elems)
	require.Equal(t, keys, v.labels())
	require.Equal(t, elems, v.vals())
	require.Same(t, &elems[0], &v.vals()[0], "not a copy")

	empty := composite(KindList, nil, "", nil, []Value{})
	require.Empty(t, empty.vals())
	require.Nil(t, empty.labels())
	l, err := empty.AsList()
	require.NoError(t, err)
	require.Empty(t, l)

	unlabelled := composite(KindRecord, nil, "", nil, elems)
	f, ok := unlabelled.FieldAt(1)
	require.True(t, ok)
	require.Equal(t, "", f.Label, "a record built without labels has empty labels")
	require.Equal(t, "2", f.Value.String())
}

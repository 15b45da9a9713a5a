package ledger

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// entry's shortcut for the usual encoding (key, then value) gives what the
// general path gives, and every other encoding still takes the general
// path: value first, either missing, unknown fields, a field twice, a
// wrong wire type, a truncated length.
func TestEntryEncodings(t *testing.T) {
	kv := func(num protowire.Number, s string) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), []byte(s))
	}
	cat := slices.Concat[[]byte]
	for _, c := range []struct {
		name       string
		b          []byte
		key, value string
		hasValue   bool
		err        bool
	}{
		{name: "key and value", b: cat(kv(1, "owner"), kv(2, "\x0a\x03abc")), key: "owner", value: "\x0a\x03abc", hasValue: true},
		{name: "key only", b: kv(1, "k"), key: "k"},
		{name: "empty value", b: cat(kv(1, "k"), kv(2, "")), key: "k", hasValue: true},
		{name: "value first", b: cat(kv(2, "v"), kv(1, "k")), key: "k", value: "v", hasValue: true},
		{name: "value only", b: kv(2, "v"), value: "v", hasValue: true},
		{name: "empty", b: nil},
		{name: "unknown field after", b: cat(kv(1, "k"), kv(2, "v"), kv(3, "x")), key: "k", value: "v", hasValue: true},
		{name: "unknown varint between", b: cat(kv(1, "k"), protowire.AppendVarint(protowire.AppendTag(nil, 4, protowire.VarintType), 7), kv(2, "v")), key: "k", value: "v", hasValue: true},
		{name: "key twice", b: cat(kv(1, "k"), kv(1, "j")), err: true},
		{name: "value twice", b: cat(kv(1, "k"), kv(2, "v"), kv(2, "w")), err: true},
		{name: "value as varint", b: cat(kv(1, "k"), protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 7)), err: true},
		{name: "truncated value", b: cat(kv(1, "k"), kv(2, "value")[:4]), err: true},
		{name: "truncated key", b: kv(1, "key")[:3], err: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			key, value, err := entry(c.b)
			if c.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.key, string(key))
			require.Equal(t, c.value, string(value))
			require.Equal(t, c.hasValue, value != nil, "a value present, even empty, is not nil")
		})
	}
}

package ledger

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDirtyPoolTiers(t *testing.T) {
	p := newDirtyPool(8, 12, 14)

	b := p.Get(100)
	require.Len(t, *b, 100)
	assert.Equal(t, 256, cap(*b), "the smallest tier that holds 100 bytes")
	b2 := p.Get(5000)
	assert.Equal(t, 1<<14, cap(*b2))
	big := p.Get(20000)
	assert.Equal(t, 20000, cap(*big), "beyond the largest tier: a buffer of its own")

	// A buffer comes back at the requested length from the tier it fits,
	// with its bytes as they were (the pool does not clear them).
	fill := func(b *[]byte) {
		for i := range *b {
			(*b)[i] = 0xAB
		}
	}
	fill(b2)
	p.Put(b2)
	var again *[]byte
	for range 100 { // sync.Pool may drop what it is given (always may under -race)
		again = p.Get(16000)
		if (*again)[0] == 0xAB {
			break
		}
		fill(again)
		p.Put(again)
	}
	require.Len(t, *again, 16000)
	assert.Equal(t, byte(0xAB), (*again)[0], "the pooled buffer is handed out again without clearing")

	// A buffer between tiers goes to the largest tier it can serve.
	odd := make([]byte, 0, 3000)
	p.Put(&odd)
	got := p.Get(3000)
	assert.GreaterOrEqual(t, cap(*got), 3000)
	assert.Len(t, *got, 3000)

	// Too small or too large to pool: dropped, without panicking.
	tiny := make([]byte, 10)
	p.Put(&tiny)
	p.Put(big)
	empty := []byte{}
	p.Put(&empty)
	assert.Len(t, *p.Get(0), 0)
}

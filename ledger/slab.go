package ledger

import (
	"math"
	"unsafe"
)

// slab hands out the slices of one transaction's values (record fields,
// party lists, events...) as pieces of a few bigger slices instead of one
// allocation each.
//
// A slab belongs to one transaction: the wire decoder starts it when a
// transaction begins and drops it when the transaction ends, so that the
// memory of one transaction is never pinned by a later one. Each piece is
// cut with a full slice expression (its capacity is its length), so an
// append to it reallocates instead of writing over its neighbour, and each
// element is handed out once, zeroed, and never touched by the slab again.
// The price: whatever a caller keeps of a transaction (one string, one
// value) keeps the chunk it was cut from, a few KB of that transaction.
//
// The first chunk of a transaction is sized from the previous
// transaction's use per wire byte, so that a stream of similar
// transactions makes one chunk each; a transaction that needs more gets
// further chunks, growing with what it used so far.
type slab[T any] struct {
	buf  []T
	used int     // elements handed out for the current transaction
	rate float64 // elements per wire byte of the last transaction decoded
	want int     // size of the current transaction's first chunk
}

// maxChunkBytes bounds a slab's first chunk and its growth.
const maxChunkBytes = 64 << 10

// limit is the most elements a chunk is made for (unless one piece needs
// more).
func (s *slab[T]) limit() int {
	var zero T
	return max(maxChunkBytes/max(int(unsafe.Sizeof(zero)), 1), 1)
}

// start begins a transaction of wireLen bytes.
func (s *slab[T]) start(wireLen int) {
	s.buf, s.used = nil, 0
	limit := s.limit()
	// Every element stands for at least one wire byte, so wireLen bounds
	// what a transaction can use, whatever the rate.
	s.want = min(int(math.Ceil(s.rate*float64(wireLen))), wireLen, limit)
}

// end ends the transaction, dropping the chunk; ok says whether it was
// decoded, so that its use sizes the next one's chunk.
func (s *slab[T]) end(wireLen int, ok bool) {
	if ok && wireLen > 0 {
		s.rate = float64(s.used) / float64(wireLen)
	}
	s.buf, s.used = nil, 0
}

// alloc returns n zeroed elements, with capacity n. For n == 0 it returns
// an empty slice that is not nil, as make does.
func (s *slab[T]) alloc(n int) []T {
	if n == 0 {
		return []T{}
	}
	if cap(s.buf)-len(s.buf) < n {
		size := s.want
		if s.used > 0 {
			size = min(max(s.used, 8), s.limit())
		}
		s.buf = make([]T, 0, max(size, n))
	}
	i := len(s.buf)
	s.buf = s.buf[:i+n]
	s.used += n
	return s.buf[i : i+n : i+n]
}

// copyOf returns a copy of src cut from s, or nil if src is empty.
func copyOf[T any](s *slab[T], src []T) []T {
	if len(src) == 0 {
		return nil
	}
	out := s.alloc(len(src))
	copy(out, src)
	return out
}

// one returns a pointer to one zeroed element.
func (s *slab[T]) one() *T { return &s.alloc(1)[0] }

// stringOf returns data as a string whose bytes are in b: they are copied
// into a piece of the slab that nothing else refers to and that is never
// written again, so the string is immutable as a Go string must be.
func stringOf(b *slab[byte], data []byte) string {
	if len(data) == 0 {
		return ""
	}
	p := b.alloc(len(data))
	copy(p, data)
	return unsafe.String(&p[0], len(p))
}

package ledger

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

// recvPool is the buffer pool of the client's connections: gRPC's default
// tiers, without clearing a buffer before handing it out again.
//
// gRPC's default pool clears the whole capacity of every pooled buffer it
// hands out (16 KiB for each HTTP/2 data frame, however short the frame). The
// client reads each frame into the buffer with io.ReadFull and exposes only
// the bytes read, and the decoder copies what it keeps out of the buffer
// before gRPC puts it back, so a stale byte is never read. The clearing was
// about 3% of the ingester's CPU in the bench's e2e phase.
//
// The pool is installed with experimental.WithBufferPool, an API gRPC marks
// experimental; should a gRPC release drop it, dropping the option costs
// that 3% and nothing else.
var recvPool = newDirtyPool(8, 12, 14, 15, 20)

// dirtyPool is a mem.BufferPool of power-of-two tiers. A request larger than
// the largest tier gets a new buffer; on Put, a buffer smaller than the
// smallest tier or larger than the largest is left to the garbage collector,
// so that one large message does not stay pooled.
type dirtyPool struct {
	exps  []uint8 // the tiers' capacities, as powers of two, ascending
	tiers []sync.Pool
}

var _ mem.BufferPool = (*dirtyPool)(nil)

// newDirtyPool returns a pool with tiers of 1<<e bytes for each e, which
// must be given in ascending order.
func newDirtyPool(exps ...uint8) *dirtyPool {
	return &dirtyPool{exps: exps, tiers: make([]sync.Pool, len(exps))}
}

// Get returns a buffer of the given length whose bytes are unspecified.
func (p *dirtyPool) Get(length int) *[]byte {
	for i, e := range p.exps {
		size := 1 << e
		if length > size {
			continue
		}
		if b, ok := p.tiers[i].Get().(*[]byte); ok {
			*b = (*b)[:length]
			return b
		}
		b := make([]byte, length, size)
		return &b
	}
	b := make([]byte, length)
	return &b
}

// Put returns a buffer to the tier of the largest capacity it can serve.
func (p *dirtyPool) Put(b *[]byte) {
	c := cap(*b)
	if c == 0 || c > 1<<p.exps[len(p.exps)-1] {
		return
	}
	e := uint8(bits.Len(uint(c)) - 1) // the largest power of two ≤ c
	for i := len(p.exps) - 1; i >= 0; i-- {
		if p.exps[i] <= e {
			*b = (*b)[:0]
			p.tiers[i].Put(b)
			return
		}
	}
}

package ledgertest

// Large ledgers for benchmarks and soak tests: transactions made on demand
// (AppendFunc) and streams that send each transaction's encoded form from a
// cache instead of encoding it again (WithWireCache).

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"google.golang.org/protobuf/proto"
)

// WithWireCache makes streams keep, for every transaction, its encoded form
// under the update format last asked for, and send that on the next stream
// with the same format. Streams then cost the fake little more than a copy,
// so that a benchmark measures the client. The cache costs memory: about
// the encoded size of each transaction (a few kB for a token transfer).
// Default: off; every stream encodes every transaction.
func WithWireCache() Option {
	return optionFunc(func(c *config) { c.wireCache = true })
}

// WithCompressedWireCache is WithWireCache with each cached response
// compressed (DEFLATE, with the first response cached as a preset
// dictionary), for ledgers too big to hold encoded: a token transfer of
// about 5.9 kB takes about 350 bytes. Caching a transaction costs some
// 75 µs more CPU, sending it from the cache some 5 µs more. Default: off.
func WithCompressedWireCache() Option {
	return optionFunc(func(c *config) { c.wireCache, c.wireCompress = true, true })
}

// AppendFunc appends n transactions whose content is made on demand by gen:
// gen(i), for i in [0, n), is called whenever a stream, GetUpdateById or
// Transactions reaches the i-th of them, never by AppendFunc itself. The
// participant keeps only what it assigns to each transaction, as Append does
// for a transaction that leaves these fields empty: an offset, an update id
// "upd-<n>", the default synchronizer, and a record time 1ms after the
// latest one (the effective time equals it). A million transactions take a
// few hundred MB rather than many GB.
//
// gen must be safe for concurrent use and return an equal transaction every
// time it is called with the same i. Of what it returns only the events, the
// command id and the workflow id count: its offset, update id, synchronizer
// and times are replaced by the assigned ones. A nil transaction or a nil
// event, which Append would refuse, is a bug in the test: the call that
// reaches it panics with a message naming i and the update id.
//
// AppendFunc wakes tailing streams once, after all n are appended. As with
// Append, while a Restore's recovery is pending the transactions queue
// behind the recovered ones.
func (p *Participant) AppendFunc(n int, gen func(i int) *ledger.Transaction) error {
	if n < 0 || gen == nil {
		return fmt.Errorf("ledgertest: AppendFunc: invalid count %d or nil generator", n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("ledgertest: AppendFunc on a closed participant")
	}
	sync := p.cfg.synchronizer
	last, ok := p.sequenced[sync]
	ids := map[string]bool{}
	for i := range n {
		t := p.cfg.startTime
		if ok {
			t = last.Add(time.Millisecond)
		}
		last, ok = t, true
		tx := &ledger.Transaction{UpdateID: p.nextUpdateIDLocked(ids), SynchronizerID: sync, RecordTime: t, EffectiveAt: t}
		p.sequenceLocked(&entry{sync: sync, time: t, tx: tx, gen: gen, genIdx: i})
	}
	p.notifyLocked()
	return nil
}

// transaction returns the entry's transaction, making its content if it was
// appended by AppendFunc. The result must not be modified.
func (e *entry) transaction() *ledger.Transaction {
	if e.gen == nil || e.tx == nil {
		return e.tx
	}
	made := e.gen(e.genIdx)
	if made == nil {
		panic(fmt.Sprintf("ledgertest: AppendFunc generator returned a nil transaction for %d (update %s)", e.genIdx, e.tx.UpdateID))
	}
	for j, ev := range made.Events {
		if nilEvent(ev) {
			panic(fmt.Sprintf("ledgertest: AppendFunc generator returned a nil event %d in transaction %d (update %s)", j, e.genIdx, e.tx.UpdateID))
		}
	}
	tx := *e.tx
	tx.CommandID, tx.WorkflowID = made.CommandID, made.WorkflowID
	tx.Events = made.Events
	return cloneTx(&tx, e.offset)
}

// wireCache is an entry's encoded GetUpdatesResponse for one update format;
// resp is nil when the format leaves nothing of the transaction. With a
// dict, resp is compressed with it (WithCompressedWireCache).
type wireCache struct {
	key  string
	resp []byte
	dict *wireDict
}

// wireDict is the preset dictionary of a participant's compressed wire
// cache: the first response it cached, for one update format.
type wireDict struct {
	key     string
	b       []byte
	writers sync.Pool // *flate.Writer with b as dictionary
}

// dictFor returns the participant's dictionary for the format key, making
// resp the dictionary if there is none yet. It returns nil when the
// dictionary is another format's (that format's responses stay
// uncompressed) or resp itself became it.
func (p *Participant) dictFor(key string, resp []byte) *wireDict {
	d := p.wireDict.Load()
	if d == nil {
		if p.wireDict.CompareAndSwap(nil, &wireDict{key: key, b: resp}) {
			return nil
		}
		d = p.wireDict.Load()
	}
	if d.key != key {
		return nil
	}
	return d
}

// compress returns b compressed with d.
func (d *wireDict) compress(b []byte) ([]byte, error) {
	var out bytes.Buffer
	w, _ := d.writers.Get().(*flate.Writer)
	if w == nil {
		var err error
		if w, err = flate.NewWriterDict(&out, flate.DefaultCompression, d.b); err != nil {
			return nil, err
		}
	} else {
		w.Reset(&out)
	}
	defer d.writers.Put(w)
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return bytes.Clone(out.Bytes()), nil
}

// inflater decompresses cached responses for one stream, reusing its
// reader and buffer: gRPC has encoded a response when Send returns, so the
// buffer is free again for the next.
type inflater struct {
	r   io.ReadCloser
	src bytes.Reader
	out bytes.Buffer
}

func (f *inflater) inflate(c *wireCache) ([]byte, error) {
	f.src.Reset(c.resp)
	if f.r == nil {
		f.r = flate.NewReaderDict(&f.src, c.dict.b)
	} else if err := f.r.(flate.Resetter).Reset(&f.src, c.dict.b); err != nil {
		return nil, err
	}
	f.out.Reset()
	if _, err := f.out.ReadFrom(f.r); err != nil {
		return nil, err
	}
	return f.out.Bytes(), nil
}

// formatKey identifies an update format: its deterministic encoding.
func formatKey(uf *lapiv2.UpdateFormat) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(uf)
	if err != nil {
		return "" // cannot happen for a message that was just decoded; "" disables caching
	}
	return string(b)
}

// cachedResponse returns what a stream with format sends for e, from the
// cache when it holds this format, or nil when nothing of e is left. f
// decompresses a compressed cache.
//
// The cached bytes travel as the unknown fields of an empty
// GetUpdatesResponse: protobuf marshals unknown fields verbatim, so the
// client receives exactly the bytes of the original message, and gRPC's
// encoding of it is a copy.
func (e *entry) cachedResponse(p *Participant, format *txFormat, f *inflater) *lapiv2.GetUpdatesResponse {
	if c := e.wire.Load(); c != nil && c.key == format.key && format.key != "" {
		if c.dict == nil || c.resp == nil {
			return rawResponse(c.resp)
		}
		if b, err := f.inflate(c); err == nil {
			return rawResponse(b)
		} // else: encode it again, below
	}
	tx := format.apply(e.transaction())
	c := &wireCache{key: format.key}
	var resp *lapiv2.GetUpdatesResponse
	if tx != nil {
		resp = &lapiv2.GetUpdatesResponse{Update: &lapiv2.GetUpdatesResponse_Transaction{Transaction: tx}}
		b, err := proto.Marshal(resp)
		if err != nil {
			return resp // let gRPC report the encoding error
		}
		c.resp = b
		if p.cfg.wireCompress && format.key != "" {
			if d := p.dictFor(format.key, b); d != nil {
				if packed, err := d.compress(b); err == nil {
					c.resp, c.dict = packed, d
				}
			}
		}
	}
	if format.key != "" {
		e.wire.Store(c)
	}
	return resp
}

func rawResponse(b []byte) *lapiv2.GetUpdatesResponse {
	if b == nil {
		return nil
	}
	resp := &lapiv2.GetUpdatesResponse{}
	resp.ProtoReflect().SetUnknown(b)
	return resp
}

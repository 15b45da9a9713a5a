package ledger

import (
	"strconv"
	"unsafe"
)

// NewWireDecoderFull returns a decoder whose table of shared strings is
// full, so that it shares none of a stream's strings: they all come from
// the transactions' slabs.
func NewWireDecoderFull() WireDecoder {
	d := newWireDecoder()
	for i := range maxInterned {
		s := "filler-" + strconv.Itoa(i)
		d.strs[s] = s
	}
	return WireDecoder{d}
}

// KeptStrings returns the data pointers of the strings the decoder keeps
// from one transaction to the next (its shared strings, label lists and
// type ids).
func (w WireDecoder) KeptStrings() map[*byte]bool {
	out := map[*byte]bool{}
	add := func(s string) {
		if s != "" {
			out[unsafe.StringData(s)] = true
		}
	}
	for _, s := range w.d.strs {
		add(s)
	}
	for _, l := range w.d.labelLists {
		for _, s := range *l {
			add(s)
		}
	}
	for _, id := range w.d.ids {
		add(id.PackageID)
		add(id.ModuleName)
		add(id.EntityName)
	}
	return out
}

// DecodeInOneChunk decodes b with a first chunk of the string bytes' slab
// big enough for all of b's strings, so that they lie in one chunk that
// holds nothing else.
func (w WireDecoder) DecodeInOneChunk(b []byte) (u Update, unmarshalErr, err error, fellBack bool) {
	w.d.bytes.rate = 1
	return w.Decode(b)
}

// LabelStrings returns every label of the record label lists the decoder
// shares, and the data pointers of its shared strings.
func (w WireDecoder) LabelStrings() (labels []string, shared map[*byte]bool) {
	for _, l := range w.d.labelLists {
		labels = append(labels, *l...)
	}
	shared = map[*byte]bool{}
	for _, s := range w.d.strs {
		shared[unsafe.StringData(s)] = true
	}
	return labels, shared
}

// RecordLabelsData returns the data pointer of a record's labels.
func RecordLabelsData(v Value) *string {
	if v.keys == nil {
		return nil
	}
	return unsafe.SliceData(*v.keys)
}

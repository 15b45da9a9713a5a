package ledger

// The update stream's fast path: each GetUpdatesResponse is decoded from
// its wire bytes straight into ledger types, without building the protobuf
// messages first, and the strings that repeat from one transaction to the
// next (identifiers, parties, record labels) are shared instead of
// allocated again. The rest of a transaction — its events, record fields,
// party lists, the bytes of its other strings — is cut from a few slabs
// of its own (slab.go) rather than allocated piece by piece. For a token
// transfer it makes 9 allocations where proto.Unmarshal followed by
// UpdateFromProto makes about 670, a third of their bytes, in a third of
// the time (BenchmarkDecodeTransfer).
//
// The fast path handles the messages a participant sends. Anything else —
// a malformed message, one that fails validation, a field encoded in an
// unusual way (a repeated singular message, a zero-length bytes field) —
// makes it give up, and the message is decoded again by the reference path,
// proto.Unmarshal and UpdateFromProto, whose result or error is returned.
// The outcome is therefore the reference path's in every case;
// wire_test.go checks that they agree.

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	pb "github.com/cantonx/txhistory/proto/gen/lapiv2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// errSlowPath makes the fast path give up on a message.
var errSlowPath = errors.New("ledger: decode with the reference path")

// maxInterned bounds how many strings (and type ids) one stream shares, and
// maxInternedLen their length.
const (
	maxInterned    = 1 << 14
	maxInternedLen = 256
	// maxLabelLists bounds how many distinct lists of record labels one
	// stream shares (recordLabels).
	maxLabelLists = 1 << 12
	// maxKeptScratch bounds, in bytes, each buffer a stream keeps from one
	// message to the next (the frame's copy, the decoder's scratch): one
	// grown bigger by a huge transaction is dropped after it, not held at
	// that size for as long as the stream stays open.
	maxKeptScratch = 64 << 10
)

// wireFrame receives one message's bytes from frameCodec, in b: gRPC's own
// buffer when the message arrived in one (held in ref until release),
// otherwise a copy in buf, which is reused from message to message up to
// maxKeptScratch.
type wireFrame struct {
	b   []byte
	buf []byte
	ref mem.Buffer
}

// release lets gRPC have its buffer back, if b was one. Nothing decoded
// from b may refer to it any more: the decoder copies what it keeps, as
// buf is overwritten by the next message too.
func (f *wireFrame) release() {
	if f.ref != nil {
		f.ref.Free()
		f.ref = nil
	}
	f.b = nil
	if cap(f.buf) > maxKeptScratch {
		f.buf = nil
	}
}

// frameCodec is the codec of the GetUpdates call: it hands the response's
// bytes to the stream (without a copy when they arrived in one buffer) and
// marshals the request as the proto codec does.
type frameCodec struct{ proto encoding.CodecV2 }

func newFrameCodec() frameCodec { return frameCodec{proto: encoding.GetCodecV2("proto")} }

func (c frameCodec) Name() string { return "proto" }

func (c frameCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c frameCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*wireFrame)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	f.release()
	if len(data) == 1 {
		// gRPC frees data once this returns; the reference keeps the
		// buffer until the stream has decoded it.
		data[0].Ref()
		f.ref, f.b = data[0], data[0].ReadOnlyData()
		return nil
	}
	n := data.Len()
	if cap(f.buf) < n {
		f.buf = make([]byte, n)
	}
	f.b = f.buf[:n]
	data.CopyTo(f.b)
	return nil
}

// wireDecoder decodes the messages of one stream. It is not safe for
// concurrent use.
type wireDecoder struct {
	strs map[string]string
	ids  map[string]*Identifier // record, variant and enum type ids, by their encoding
	// labelLists are the record label lists shared so far, by labelKey:
	// the labels' encodings, each length-prefixed.
	labelLists map[string]*[]string
	labelKey   []byte
	// stack holds the elements of the repeated fields being decoded, of
	// every nesting level: a level appends its own, decodes them, and
	// truncates the stack back.
	stack [][]byte
	// Scratch of one transaction (events, interface views) or one event
	// (party lists, implemented interfaces), copied out when complete.
	events  [][]byte
	views   [][]byte
	parties [3][]string
	ifaces  []Identifier

	// The slabs of the transaction being decoded (slab.go); inTx says
	// whether one is.
	inTx          bool
	vals          slab[Value]
	labels        slab[string] // record labels, map keys, party lists
	bytes         slab[byte]   // the contents of the strings not shared
	idents        slab[Identifier]
	ivs           slab[InterfaceView]
	createdSlab   slab[CreatedEvent]
	archivedSlab  slab[ArchivedEvent]
	exercisedSlab slab[ExercisedEvent]
	valHeaders    slab[[]Value]  // the headers composite Values point to
	keyHeaders    slab[[]string] // text map keys' headers, and those of record labels not shared
}

// startTx starts the slabs of a transaction of wireLen bytes.
func (d *wireDecoder) startTx(wireLen int) {
	d.inTx = true
	d.vals.start(wireLen)
	d.labels.start(wireLen)
	d.bytes.start(wireLen)
	d.idents.start(wireLen)
	d.ivs.start(wireLen)
	d.createdSlab.start(wireLen)
	d.archivedSlab.start(wireLen)
	d.exercisedSlab.start(wireLen)
	d.valHeaders.start(wireLen)
	d.keyHeaders.start(wireLen)
}

// endTx drops the slabs of the transaction, and the scratch's references
// into it; ok says whether it was decoded.
func (d *wireDecoder) endTx(wireLen int, ok bool) {
	d.inTx = false
	d.vals.end(wireLen, ok)
	d.labels.end(wireLen, ok)
	d.bytes.end(wireLen, ok)
	d.idents.end(wireLen, ok)
	d.ivs.end(wireLen, ok)
	d.createdSlab.end(wireLen, ok)
	d.archivedSlab.end(wireLen, ok)
	d.exercisedSlab.end(wireLen, ok)
	d.valHeaders.end(wireLen, ok)
	d.keyHeaders.end(wireLen, ok)
	// The frame buffer of a transaction this big is not kept
	// (wireFrame.release): nor may the scratch keep references into it
	// past its length (the stack's levels, an earlier event's views).
	big := wireLen > maxKeptScratch
	for i := range d.parties {
		d.parties[i] = emptied(d.parties[i], big)
	}
	d.ifaces = emptied(d.ifaces, big)
	d.events = emptied(d.events, big) // the wire buffer's: not ours to keep
	d.views = emptied(d.views, big)
	d.stack = emptied(d.stack, big)
	if cap(d.labelKey) > maxKeptScratch {
		d.labelKey = nil
	}
}

// emptied returns s emptied, its elements cleared (up to its capacity with
// all), or nil if it holds more than maxKeptScratch bytes: scratch a huge
// transaction grew is not kept for the next ones.
func emptied[T any](s []T, all bool) []T {
	var zero T
	if cap(s)*int(unsafe.Sizeof(zero)) > maxKeptScratch {
		return nil
	}
	if all {
		s = s[:cap(s)]
	}
	clear(s)
	return s[:0]
}

func newWireDecoder() *wireDecoder {
	return &wireDecoder{strs: map[string]string{}, ids: map[string]*Identifier{}, labelLists: map[string]*[]string{}}
}

// decode returns the update b encodes, exactly as proto.Unmarshal followed
// by UpdateFromProto would, or the error they would give. unmarshalErr is
// the error gRPC gives for a message that does not unmarshal.
func (d *wireDecoder) decode(b []byte) (u Update, unmarshalErr, err error) {
	if u, err := d.update(b); err == nil {
		return u, nil, nil
	}
	var msg pb.GetUpdatesResponse
	if err := proto.Unmarshal(b, &msg); err != nil {
		return Update{}, status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err), nil
	}
	u, err = UpdateFromProto(&msg)
	return u, nil, err
}

// unmarshalable reads, from b, a message that does not unmarshal
// (unmarshalErr), the offset and update id of the transaction it holds, if
// it holds one whose offset can be read: a malformed transaction (a text
// that is not UTF-8, say), which the ingestion names and may set aside, not
// a message it cannot read at all. Raw is the transaction's bytes as
// ReviewJSON writes those protobuf JSON cannot hold.
func unmarshalable(b []byte, unmarshalErr error) *DecodeError {
	var txb []byte
	n := 0
	if err := fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, data []byte) error {
		if num >= 1 && num <= 4 { // the oneof
			txb, n = data, n+1
			if num != 1 || typ != protowire.BytesType {
				n++ // not a transaction
			}
		}
		return nil
	}); err != nil || n != 1 {
		return nil
	}
	var offset int64
	var id []byte
	if err := fields(txb, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		switch {
		case num == 6 && typ == protowire.VarintType:
			offset = int64(v)
		case num == 1 && typ == protowire.BytesType:
			id = data
		}
		return nil
	}); err != nil || offset <= 0 {
		return nil
	}
	raw, err := json.Marshal(map[string]string{"protobuf_base64": base64.StdEncoding.EncodeToString(txb)})
	if err != nil {
		return nil
	}
	return &DecodeError{Offset: offset, UpdateID: string(id), NodeID: -1, Raw: raw,
		Err: fmt.Errorf("transaction does not unmarshal: %s", status.Convert(unmarshalErr).Message())}
}

// fields walks the fields of a message. For each it calls fn with the field
// number, wire type and, for varint and fixed types, the value in v, for
// length-delimited ones the contents in data. A malformed message ends the
// walk with errSlowPath.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > protowire.MaxValidNumber { // proto.Unmarshal refuses both
			return errSlowPath
		}
		b = b[n:]
		var v uint64
		var data []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var v32 uint32
			v32, n = protowire.ConsumeFixed32(b)
			v = uint64(v32)
		case protowire.BytesType:
			data, n = protowire.ConsumeBytes(b)
		default: // groups: not in these messages
			return errSlowPath
		}
		if n < 0 {
			return errSlowPath
		}
		b = b[n:]
		if err := fn(num, typ, v, data); err != nil {
			return err
		}
	}
	return nil
}

// once tracks the singular message fields of one message: protobuf merges a
// repeated occurrence, which the fast path leaves to the reference path.
type once uint32

func (o *once) see(num protowire.Number) error {
	if num >= 32 {
		return nil
	}
	bit := once(1) << num
	if *o&bit != 0 {
		return errSlowPath
	}
	*o |= bit
	return nil
}

// want checks a known field's wire type; protobuf treats a mismatch as an
// unknown field, which the fast path leaves to the reference path.
func want(typ, expected protowire.Type) error {
	if typ != expected {
		return errSlowPath
	}
	return nil
}

// str returns data as a string, checking UTF-8 as protobuf does for proto3
// strings. Within a transaction its bytes come from the transaction's slab.
func (d *wireDecoder) str(data []byte) (string, error) {
	if !utf8.Valid(data) {
		return "", errSlowPath
	}
	if d.inTx {
		return stringOf(&d.bytes, data), nil
	}
	return string(data), nil
}

// shared returns data as a string shared with earlier equal ones.
func (d *wireDecoder) shared(data []byte) (string, error) {
	if s, ok := d.strs[string(data)]; ok {
		return s, nil
	}
	if len(d.strs) >= maxInterned || len(data) > maxInternedLen {
		return d.str(data) // not kept: it may be the transaction's
	}
	if !utf8.Valid(data) {
		return "", errSlowPath
	}
	s := string(data) // kept from one transaction to the next: its own allocation
	d.strs[s] = s
	return s, nil
}

func (d *wireDecoder) update(b []byte) (Update, error) {
	var u Update
	seen := 0
	err := fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, data []byte) error {
		switch num {
		case 1, 2, 3, 4: // the oneof: transaction, reassignment, offset_checkpoint, topology_transaction
			if seen++; seen > 1 || typ != protowire.BytesType {
				return errSlowPath
			}
			var err error
			switch num {
			case 1:
				var tx *Transaction
				tx, err = d.transaction(data)
				u = Update{Kind: UpdateTransaction, Transaction: tx}
			case 3:
				var cp *OffsetCheckpoint
				cp, err = d.checkpoint(data)
				u = Update{Kind: UpdateCheckpoint, Checkpoint: cp}
			default:
				err = errSlowPath // rare: let the reference path validate them
			}
			return err
		}
		return nil
	})
	if err != nil || seen == 0 {
		return Update{}, errSlowPath
	}
	return u, nil
}

// timestamp decodes a google.protobuf.Timestamp as timeFromProto converts it.
func timestamp(b []byte) (time.Time, error) {
	var sec, nanos int64
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) error {
		switch num {
		case 1:
			sec = int64(v)
			return want(typ, protowire.VarintType)
		case 2:
			nanos = int64(int32(v))
			return want(typ, protowire.VarintType)
		}
		return nil
	})
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(sec, nanos).UTC(), nil
}

func (d *wireDecoder) checkpoint(b []byte) (*OffsetCheckpoint, error) {
	cp := &OffsetCheckpoint{}
	var times []SynchronizerTime
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		switch num {
		case 1:
			cp.Offset = int64(v)
			return want(typ, protowire.VarintType)
		case 2:
			if err := want(typ, protowire.BytesType); err != nil {
				return err
			}
			var st SynchronizerTime
			var set once
			hasTime := false
			err := fields(data, func(num protowire.Number, typ protowire.Type, _ uint64, data []byte) error {
				switch num {
				case 1:
					if err := want(typ, protowire.BytesType); err != nil {
						return err
					}
					var err error
					st.SynchronizerID, err = d.shared(data)
					return err
				case 2:
					if err := want(typ, protowire.BytesType); err != nil {
						return err
					}
					if err := set.see(num); err != nil {
						return err
					}
					var err error
					st.RecordTime, err = timestamp(data)
					hasTime = true
					return err
				}
				return nil
			})
			if err != nil || !StorableUpdateID(st.SynchronizerID) || !hasTime || !inDamlRange(st.RecordTime) {
				return errSlowPath // CheckpointFromProto's errors
			}
			times = append(times, st)
		}
		return nil
	})
	if err != nil || cp.Offset <= 0 {
		return nil, errSlowPath
	}
	cp.SynchronizerTimes = make([]SynchronizerTime, len(times))
	copy(cp.SynchronizerTimes, times)
	return cp, nil
}

func (d *wireDecoder) transaction(b []byte) (tx *Transaction, err error) {
	d.startTx(len(b))
	defer func() { d.endTx(len(b), err == nil) }()
	tx = &Transaction{}
	var set once
	hasRecordTime := false
	d.events = d.events[:0]
	err = fields(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		var err error
		switch num {
		case 1, 2, 3, 7, 10, 4, 9, 5:
			if err := want(typ, protowire.BytesType); err != nil {
				return err
			}
		case 6:
			tx.Offset = int64(v)
			return want(typ, protowire.VarintType)
		default:
			return nil
		}
		switch num {
		case 1:
			tx.UpdateID, err = d.str(data)
		case 2:
			tx.CommandID, err = d.str(data)
		case 3:
			tx.WorkflowID, err = d.str(data)
		case 7:
			tx.SynchronizerID, err = d.shared(data)
		case 4:
			if err = set.see(num); err == nil {
				tx.EffectiveAt, err = timestamp(data)
			}
		case 9:
			if err = set.see(num); err == nil {
				tx.RecordTime, err = timestamp(data)
				hasRecordTime = true
			}
		case 5:
			d.events = append(d.events, data)
		}
		return err // 10, external_transaction_hash: not kept
	})
	if err != nil || !StorableUpdateID(tx.UpdateID) || tx.Offset <= 0 || !hasRecordTime || !inDamlRange(tx.RecordTime) || !StorableUpdateID(tx.SynchronizerID) {
		return nil, errSlowPath // TransactionFromProto's errors carry the raw message
	}
	tx.Events = make([]Event, 0, len(d.events))
	for _, e := range d.events {
		ev, err := d.event(e)
		if err != nil {
			return nil, err
		}
		tx.Events = append(tx.Events, ev)
	}
	return tx, nil
}

func (d *wireDecoder) event(b []byte) (Event, error) {
	var ev Event
	seen := 0
	err := fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, data []byte) error {
		if num < 1 || num > 3 {
			return nil
		}
		if seen++; seen > 1 || typ != protowire.BytesType {
			return errSlowPath
		}
		var err error
		switch num {
		case 1:
			ev, err = d.created(data)
		case 2:
			ev, err = d.archived(data)
		case 3:
			ev, err = d.exercised(data)
		}
		return err
	})
	if err != nil || ev == nil {
		return nil, errSlowPath
	}
	return ev, nil
}

// party appends a party (or other repeated, repeating string) to the
// event's party list i.
func (d *wireDecoder) party(i int, typ protowire.Type, data []byte) error {
	if err := want(typ, protowire.BytesType); err != nil {
		return err
	}
	s, err := d.shared(data)
	d.parties[i] = append(d.parties[i], s)
	return err
}

// startEvent empties the scratch of an event.
func (d *wireDecoder) startEvent() {
	for i := range d.parties {
		d.parties[i] = d.parties[i][:0]
	}
	d.ifaces = d.ifaces[:0]
}

// partyList returns the event's party list i, nil if empty as protobuf
// leaves an empty repeated field.
func (d *wireDecoder) partyList(i int) []string { return copyOf(&d.labels, d.parties[i]) }

// ifaceList returns the event's implemented interfaces, nil if none as
// identifiersFromProto returns.
func (d *wireDecoder) ifaceList() []Identifier { return copyOf(&d.idents, d.ifaces) }

func (d *wireDecoder) created(b []byte) (*CreatedEvent, error) {
	c := d.createdSlab.one()
	var set once
	d.startEvent()
	d.views = d.views[:0]
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		var err error
		switch num {
		case 1:
			c.Offset = int64(v)
			return want(typ, protowire.VarintType)
		case 2:
			c.NodeID = int32(v)
			return want(typ, protowire.VarintType)
		case 14:
			c.ACSDelta = v != 0
			return want(typ, protowire.VarintType)
		case 9:
			return d.party(0, typ, data)
		case 10:
			return d.party(1, typ, data)
		case 11:
			return d.party(2, typ, data)
		case 3, 4, 5, 6, 7, 8, 12, 13:
			if err := want(typ, protowire.BytesType); err != nil {
				return err
			}
		default:
			return nil
		}
		switch num {
		case 4, 5, 6, 12:
			if err := set.see(num); err != nil {
				return err
			}
		}
		switch num {
		case 3:
			c.ContractID, err = d.str(data)
		case 4:
			c.TemplateID, err = d.identifier(data)
		case 5:
			c.ContractKey, err = d.value(data, 0)
		case 6:
			c.CreateArguments, err = d.record(data, 0)
		case 7:
			if len(data) == 0 || c.CreatedEventBlob != nil {
				return errSlowPath
			}
			c.CreatedEventBlob = append([]byte(nil), data...)
		case 8:
			d.views = append(d.views, data)
		case 12:
			c.CreatedAt, err = timestamp(data)
		case 13:
			c.PackageName, err = d.shared(data)
		}
		return err
	})
	if err != nil {
		return nil, errSlowPath
	}
	c.WitnessParties, c.Signatories, c.Observers = d.partyList(0), d.partyList(1), d.partyList(2)
	c.InterfaceViews = d.ivs.alloc(len(d.views))
	for i, vb := range d.views {
		if c.InterfaceViews[i], err = d.view(vb); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (d *wireDecoder) view(b []byte) (InterfaceView, error) {
	var iv InterfaceView
	var set once
	err := fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, data []byte) error {
		if num < 1 || num > 4 {
			return nil
		}
		if err := want(typ, protowire.BytesType); err != nil {
			return err
		}
		var err error
		switch num {
		case 1, 2, 3:
			if err := set.see(num); err != nil {
				return err
			}
		}
		switch num {
		case 1:
			iv.InterfaceID, err = d.identifier(data)
		case 2:
			iv.StatusCode, iv.StatusMessage, err = d.rpcStatus(data)
		case 3:
			iv.Value, err = d.record(data, 0)
		case 4:
			iv.ImplementationPackageID, err = d.shared(data)
		}
		return err
	})
	return iv, err
}

// rpcStatus decodes a google.rpc.Status without details (a view that
// failed to compute); details go to the reference path.
func (d *wireDecoder) rpcStatus(b []byte) (int32, string, error) {
	var code int32
	var msg string
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		switch num {
		case 1:
			code = int32(v)
			return want(typ, protowire.VarintType)
		case 2:
			if err := want(typ, protowire.BytesType); err != nil {
				return err
			}
			var err error
			msg, err = d.str(data)
			return err
		case 3:
			return errSlowPath
		}
		return nil
	})
	return code, msg, err
}

func (d *wireDecoder) archived(b []byte) (*ArchivedEvent, error) {
	a := d.archivedSlab.one()
	var set once
	d.startEvent()
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		var err error
		switch num {
		case 1:
			a.Offset = int64(v)
			return want(typ, protowire.VarintType)
		case 2:
			a.NodeID = int32(v)
			return want(typ, protowire.VarintType)
		case 3:
			if err = want(typ, protowire.BytesType); err == nil {
				a.ContractID, err = d.str(data)
			}
		case 4:
			if err = want(typ, protowire.BytesType); err == nil {
				if err = set.see(num); err == nil {
					a.TemplateID, err = d.identifier(data)
				}
			}
		case 5:
			err = d.party(0, typ, data)
		case 6:
			if err = want(typ, protowire.BytesType); err == nil {
				a.PackageName, err = d.shared(data)
			}
		case 7:
			if err = want(typ, protowire.BytesType); err == nil {
				var id Identifier
				id, err = d.identifier(data)
				d.ifaces = append(d.ifaces, id)
			}
		}
		return err
	})
	if err != nil {
		return nil, errSlowPath
	}
	a.WitnessParties, a.ImplementedInterfaces = d.partyList(0), d.ifaceList()
	return a, nil
}

func (d *wireDecoder) exercised(b []byte) (*ExercisedEvent, error) {
	x := d.exercisedSlab.one()
	var set once
	d.startEvent()
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		var err error
		switch num {
		case 1:
			x.Offset = int64(v)
			return want(typ, protowire.VarintType)
		case 2:
			x.NodeID = int32(v)
			return want(typ, protowire.VarintType)
		case 9:
			x.Consuming = v != 0
			return want(typ, protowire.VarintType)
		case 11:
			x.LastDescendantNodeID = int32(v)
			return want(typ, protowire.VarintType)
		case 15:
			x.ACSDelta = v != 0
			return want(typ, protowire.VarintType)
		case 8:
			return d.party(0, typ, data)
		case 10:
			return d.party(1, typ, data)
		case 3, 4, 5, 6, 7, 12, 13, 14:
			if err := want(typ, protowire.BytesType); err != nil {
				return err
			}
		default:
			return nil
		}
		switch num {
		case 4, 5, 7, 12:
			if err := set.see(num); err != nil {
				return err
			}
		}
		switch num {
		case 3:
			x.ContractID, err = d.str(data)
		case 4:
			x.TemplateID, err = d.identifier(data)
		case 5:
			id := d.idents.one()
			if *id, err = d.identifier(data); err == nil {
				x.InterfaceID = id
			}
		case 6:
			x.Choice, err = d.shared(data)
		case 7:
			x.ChoiceArgument, err = d.value(data, 0)
		case 12:
			x.ExerciseResult, err = d.value(data, 0)
		case 13:
			x.PackageName, err = d.shared(data)
		case 14:
			var id Identifier
			id, err = d.identifier(data)
			d.ifaces = append(d.ifaces, id)
		}
		return err
	})
	if err != nil || x.LastDescendantNodeID < x.NodeID {
		return nil, errSlowPath
	}
	x.ActingParties, x.WitnessParties, x.ImplementedInterfaces = d.partyList(0), d.partyList(1), d.ifaceList()
	return x, nil
}

func (d *wireDecoder) identifier(b []byte) (Identifier, error) {
	var id Identifier
	err := fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, data []byte) error {
		if num < 1 || num > 3 {
			return nil
		}
		if err := want(typ, protowire.BytesType); err != nil {
			return err
		}
		s, err := d.shared(data)
		switch num {
		case 1:
			id.PackageID = s
		case 2:
			id.ModuleName = s
		case 3:
			id.EntityName = s
		}
		return err
	})
	return id, err
}

// typeID returns a shared *Identifier for a record, variant or enum type:
// values keep it unexported, so it is never modified.
func (d *wireDecoder) typeID(b []byte) (*Identifier, error) {
	if id, ok := d.ids[string(b)]; ok {
		return id, nil
	}
	id, err := d.identifier(b)
	if err != nil {
		return nil, err
	}
	if len(d.ids) < maxInterned && len(b) <= maxInternedLen {
		// Kept from one transaction to the next, so none of its strings
		// may be a transaction's (as shared gives once d.strs is full).
		kept := &Identifier{PackageID: d.keep(id.PackageID), ModuleName: d.keep(id.ModuleName), EntityName: d.keep(id.EntityName)}
		d.ids[string(b)] = kept
		return kept, nil
	}
	p := d.idents.one()
	*p = id
	return p, nil
}

// keep returns s as a string that no transaction's slab holds: the shared
// one if there is, else a copy.
func (d *wireDecoder) keep(s string) string {
	if k, ok := d.strs[s]; ok {
		return k
	}
	return strings.Clone(s)
}

// value decodes a Value as valueFromProto converts it.
func (d *wireDecoder) value(b []byte, depth int) (Value, error) {
	if depth > maxValueDepth {
		return Value{}, errSlowPath
	}
	var out Value
	seen := 0
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		if num < 1 || num > 16 {
			return nil
		}
		if seen++; seen > 1 {
			return errSlowPath
		}
		var err error
		switch num {
		case 2, 3, 4:
			if err := want(typ, protowire.VarintType); err != nil {
				return err
			}
		case 5:
			if err := want(typ, protowire.Fixed64Type); err != nil {
				return err
			}
		default:
			if err := want(typ, protowire.BytesType); err != nil {
				return err
			}
		}
		switch num {
		case 1:
			out = Unit()
			err = fields(data, func(protowire.Number, protowire.Type, uint64, []byte) error { return nil })
		case 2:
			out = Bool(v != 0)
		case 3:
			out = Int64(protowire.DecodeZigZag(v))
		case 4:
			out = DateDays(int32(v))
		case 5:
			out = TimestampMicros(int64(v))
		case 6:
			var s string
			s, err = d.str(data)
			out = Numeric(s)
		case 7:
			var s string
			s, err = d.shared(data)
			out = Party(s)
		case 8:
			var s string
			s, err = d.str(data)
			out = Text(s)
		case 9:
			var s string
			s, err = d.str(data)
			out = ContractID(s)
		case 10:
			out, err = d.optional(data, depth)
		case 11:
			out, err = d.list(data, depth)
		case 12:
			out, err = d.textMap(data, depth)
		case 13:
			out, err = d.genMap(data, depth)
		case 14:
			out, err = d.record(data, depth)
		case 15:
			out, err = d.variant(data, depth)
		case 16:
			out, err = d.enum(data)
		}
		return err
	})
	return out, err
}

func (d *wireDecoder) optional(b []byte, depth int) (Value, error) {
	var inner []byte
	present := false
	err := fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, data []byte) error {
		if num != 1 {
			return nil
		}
		if present || typ != protowire.BytesType {
			return errSlowPath
		}
		inner, present = data, true
		return nil
	})
	if err != nil {
		return Value{}, err
	}
	if !present {
		return None(), nil
	}
	elems := d.vals.alloc(1)
	if elems[0], err = d.value(inner, depth+1); err != nil {
		return Value{}, err
	}
	return composite(KindOptional, nil, "", nil, d.valsHeader(elems)), nil
}

// push appends the contents of the repeated message field num of b to the
// stack and returns where they start and how many there are.
func (d *wireDecoder) push(b []byte, num protowire.Number) (start, n int, err error) {
	start = len(d.stack)
	err = fields(b, func(f protowire.Number, typ protowire.Type, _ uint64, data []byte) error {
		if f != num {
			return nil
		}
		if err := want(typ, protowire.BytesType); err != nil {
			return err
		}
		d.stack = append(d.stack, data)
		return nil
	})
	return start, len(d.stack) - start, err
}

func (d *wireDecoder) list(b []byte, depth int) (Value, error) {
	start, n, err := d.push(b, 1)
	defer func() { d.stack = d.stack[:start] }()
	if err != nil {
		return Value{}, err
	}
	elems := d.vals.alloc(n)
	for i := range n {
		if elems[i], err = d.value(d.stack[start+i], depth+1); err != nil {
			return Value{}, err
		}
	}
	return composite(KindList, nil, "", nil, d.valsHeader(elems)), nil
}

// entry decodes a map entry: its key (field 1) and value (field 2), either
// of which may be missing.
func entry(b []byte) (key, value []byte, err error) {
	// The encoding every record field and map entry has in practice: the
	// key, then the value if any, each once. entryTag1 and entryTag2 are
	// their tags (bytes, fields 1 and 2), one byte each.
	if len(b) > 1 && b[0] == entryTag1 {
		if k, n := protowire.ConsumeBytes(b[1:]); n >= 0 {
			rest := b[1+n:]
			if len(rest) == 0 {
				return k, nil, nil
			}
			if len(rest) > 1 && rest[0] == entryTag2 {
				if v, m := protowire.ConsumeBytes(rest[1:]); m >= 0 && 1+m == len(rest) {
					return k, v, nil
				}
			}
		}
	}
	var set once
	err = fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, data []byte) error {
		if num != 1 && num != 2 {
			return nil
		}
		if err := want(typ, protowire.BytesType); err != nil {
			return err
		}
		if err := set.see(num); err != nil {
			return err
		}
		if num == 1 {
			key = data
		} else {
			value = data
		}
		return nil
	})
	return key, value, err
}

// The tags of a map entry's key and value (fields 1 and 2, bytes).
const (
	entryTag1 = byte(1<<3 | protowire.BytesType)
	entryTag2 = byte(2<<3 | protowire.BytesType)
)

func (d *wireDecoder) textMap(b []byte, depth int) (Value, error) {
	start, n, err := d.push(b, 1)
	defer func() { d.stack = d.stack[:start] }()
	if err != nil {
		return Value{}, err
	}
	keys, elems := d.labels.alloc(n), d.vals.alloc(n)
	for i := range n {
		k, v, err := entry(d.stack[start+i])
		if err != nil {
			return Value{}, err
		}
		if keys[i], err = d.shared(k); err != nil {
			return Value{}, err
		}
		if v != nil {
			if elems[i], err = d.value(v, depth+1); err != nil {
				return Value{}, err
			}
		}
	}
	return composite(KindTextMap, nil, "", d.keysHeader(keys), d.valsHeader(elems)), nil
}

func (d *wireDecoder) genMap(b []byte, depth int) (Value, error) {
	start, n, err := d.push(b, 1)
	defer func() { d.stack = d.stack[:start] }()
	if err != nil {
		return Value{}, err
	}
	elems := d.vals.alloc(2 * n)
	for i := range n {
		k, v, err := entry(d.stack[start+i])
		if err != nil {
			return Value{}, err
		}
		if k == nil || v == nil {
			return Value{}, errSlowPath // a missing key or value: rare, leave it to the reference path
		}
		if elems[2*i], err = d.value(k, depth+1); err != nil {
			return Value{}, err
		}
		if elems[2*i+1], err = d.value(v, depth+1); err != nil {
			return Value{}, err
		}
	}
	return composite(KindGenMap, nil, "", nil, d.valsHeader(elems)), nil
}

// record decodes a Record as recordFromProto converts it.
func (d *wireDecoder) record(b []byte, depth int) (Value, error) {
	var id *Identifier
	var set once
	start := len(d.stack)
	defer func() { d.stack = d.stack[:start] }()
	err := fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, data []byte) error {
		if num != 1 && num != 2 {
			return nil
		}
		if err := want(typ, protowire.BytesType); err != nil {
			return err
		}
		if num == 2 {
			d.stack = append(d.stack, data)
			return nil
		}
		if err := set.see(num); err != nil {
			return err
		}
		var err error
		id, err = d.typeID(data)
		return err
	})
	if err != nil {
		return Value{}, err
	}
	n := len(d.stack) - start
	keys, err := d.recordLabels(d.stack[start:])
	if err != nil {
		return Value{}, err
	}
	elems := d.vals.alloc(n)
	for i, v := range d.stack[start:] { // recordLabels left each field's value there
		if v != nil {
			if elems[i], err = d.value(v, depth+1); err != nil {
				return Value{}, err
			}
		}
	}
	return composite(KindRecord, id, "", keys, d.valsHeader(elems)), nil
}

// recordLabels returns the labels of a record's fields, whose encodings
// fields holds, and replaces each with the encoding of its value (nil for
// none). Records of one type have the same labels, so the slice of labels
// is shared, as strings are (shared): a transfer has dozens of records, and
// a slice of its own for each would make a good part of its memory. A
// label too long to share, or more distinct lists of labels than
// maxLabelLists, gets a slice in the transaction's slab as before.
func (d *wireDecoder) recordLabels(fields [][]byte) (*[]string, error) {
	key := d.labelKey[:0]
	for i, f := range fields {
		label, v, err := entry(f)
		if err != nil {
			return nil, err
		}
		fields[i] = v
		key = protowire.AppendBytes(key, label) // length-prefixed: unambiguous
	}
	d.labelKey = key
	if keys, ok := d.labelLists[string(key)]; ok {
		return keys, nil
	}
	keep := len(d.labelLists) < maxLabelLists
	keys := make([]string, 0, len(fields))
	if !keep {
		keys = d.labels.alloc(len(fields))[:0]
	}
	for b := key; len(b) > 0; {
		label, n := protowire.ConsumeBytes(b)
		b = b[n:]
		if len(label) > maxInternedLen {
			keep = false
		}
		s, err := d.shared(label)
		if err != nil {
			return nil, err
		}
		keys = append(keys, s)
	}
	if keep && len(d.strs) < maxInterned {
		// Every label is one of the shared strings (shared kept it, or had
		// it): the slice keeps nothing of this transaction alive.
		p := &keys
		d.labelLists[string(key)] = p
		return p, nil
	}
	return d.keysHeader(keys), nil
}

// valsHeader and keysHeader return a header for a composite Value's
// elements or keys, cut from the transaction's slabs; nil for none, which
// composite would drop (empty metadata maps are common).
func (d *wireDecoder) valsHeader(elems []Value) *[]Value {
	if len(elems) == 0 {
		return nil
	}
	h := d.valHeaders.one()
	*h = elems
	return h
}

func (d *wireDecoder) keysHeader(keys []string) *[]string {
	if len(keys) == 0 {
		return nil
	}
	h := d.keyHeaders.one()
	*h = keys
	return h
}

func (d *wireDecoder) variant(b []byte, depth int) (Value, error) {
	out := Value{kind: KindVariant}
	var set once
	var inner []byte
	err := fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, data []byte) error {
		if num < 1 || num > 3 {
			return nil
		}
		if err := want(typ, protowire.BytesType); err != nil {
			return err
		}
		var err error
		switch num {
		case 1:
			if err = set.see(num); err == nil {
				out.id, err = d.typeID(data)
			}
		case 2:
			out.s, err = d.shared(data)
		case 3:
			if err = set.see(num); err == nil {
				inner = data
			}
		}
		return err
	})
	if err != nil {
		return Value{}, err
	}
	elems := d.vals.alloc(1)
	if inner != nil {
		if elems[0], err = d.value(inner, depth+1); err != nil {
			return Value{}, err
		}
	}
	return composite(KindVariant, out.id, out.s, nil, d.valsHeader(elems)), nil
}

func (d *wireDecoder) enum(b []byte) (Value, error) {
	out := Value{kind: KindEnum}
	var set once
	err := fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, data []byte) error {
		if num != 1 && num != 2 {
			return nil
		}
		if err := want(typ, protowire.BytesType); err != nil {
			return err
		}
		var err error
		if num == 1 {
			if err = set.see(num); err == nil {
				out.id, err = d.typeID(data)
			}
		} else {
			out.s, err = d.shared(data)
		}
		return err
	})
	return out, err
}

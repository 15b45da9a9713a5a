package ledger_test

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	pb "github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// reference decodes b as the stream did before its fast path:
// proto.Unmarshal, then UpdateFromProto.
func reference(b []byte) (ledger.Update, error, error) {
	var msg pb.GetUpdatesResponse
	if err := proto.Unmarshal(b, &msg); err != nil {
		return ledger.Update{}, err, nil
	}
	u, err := ledger.UpdateFromProto(&msg)
	return u, nil, err
}

// requireSame checks that the fast path decodes b as the reference path
// does, and returns whether it fell back.
func requireSame(t testing.TB, b []byte) bool {
	t.Helper()
	got, gotUnmarshal, gotErr, fellBack := ledger.DecodeWire(b)
	want, wantUnmarshal, wantErr := reference(b)
	require.Equal(t, wantUnmarshal != nil, gotUnmarshal != nil, "unmarshal error: want %v, got %v", wantUnmarshal, gotUnmarshal)
	if wantUnmarshal != nil {
		require.True(t, fellBack)
		require.Contains(t, gotUnmarshal.Error(), "grpc: failed to unmarshal the received message: "+wantUnmarshal.Error())
		return true
	}
	if wantErr != nil || gotErr != nil {
		require.Error(t, gotErr, "want %v", wantErr)
		require.Error(t, wantErr, "got %v", gotErr)
		require.Equal(t, wantErr.Error(), gotErr.Error())
		require.Equal(t, reflect.TypeOf(wantErr), reflect.TypeOf(gotErr))
		return fellBack
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("fast path decodes differently:\nwant %#v\ngot  %#v", want.Transaction, got.Transaction)
	}
	return fellBack
}

func marshal(t testing.TB, m *pb.GetUpdatesResponse) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	require.NoError(t, err)
	return b
}

func txResponse(tx *ledger.Transaction) *pb.GetUpdatesResponse {
	return &pb.GetUpdatesResponse{Update: &pb.GetUpdatesResponse_Transaction{Transaction: tx.Proto()}}
}

// corpus is the token standard demo history and a run of transfers, as a
// participant streams them.
func corpus(t testing.TB) [][]byte {
	const treasury = "treasury::1220wire"
	var out [][]byte
	d := (&ledgertest.TokenWorld{Sequence: true}).DemoHistory(treasury, 300)
	for _, tx := range d.Transactions {
		out = append(out, marshal(t, txResponse(tx)))
		if v := ledgertest.TokenProjection(tx, treasury); v != nil {
			out = append(out, marshal(t, txResponse(v)))
		}
	}
	h := ledgertest.TransferHistory{Treasury: treasury}
	for i := range 30 {
		tx := h.Tx(i)
		tx.UpdateID, tx.Offset, tx.RecordTime, tx.SynchronizerID = "upd-x", int64(i+1), time.Unix(1800000000, int64(i)*1000).UTC(), "sync::1"
		out = append(out, marshal(t, txResponse(tx)))
	}
	cp := &ledger.OffsetCheckpoint{Offset: 99, SynchronizerTimes: []ledger.SynchronizerTime{
		{SynchronizerID: "a::1", RecordTime: time.Unix(1800000000, 5000).UTC()}, {SynchronizerID: "b::2", RecordTime: time.Unix(1800000001, 0).UTC()}}}
	out = append(out, marshal(t, &pb.GetUpdatesResponse{Update: &pb.GetUpdatesResponse_OffsetCheckpoint{OffsetCheckpoint: cp.Proto()}}))
	return out
}

func TestWireDecodeMatchesReference(t *testing.T) {
	for i, b := range corpus(t) {
		require.False(t, requireSame(t, b), "message %d fell back to the reference path", i)
	}
}

// randomValue builds a value of every kind, nested up to depth.
func randomValue(r *rand.Rand, depth int) ledger.Value {
	id := &ledger.Identifier{PackageID: "pkg" + string(rune('a'+r.IntN(3))), ModuleName: "M.N", EntityName: "E"}
	if r.IntN(3) == 0 {
		id = nil
	}
	kind := r.IntN(17)
	if depth <= 0 && kind >= 10 {
		kind = r.IntN(10)
	}
	switch kind {
	case 0:
		return ledger.Value{}
	case 1:
		return ledger.Unit()
	case 2:
		return ledger.Bool(r.IntN(2) == 0)
	case 3:
		return ledger.Int64(r.Int64() - r.Int64())
	case 4:
		return ledger.DateDays(int32(r.Uint32()))
	case 5:
		return ledger.TimestampMicros(r.Int64() - r.Int64())
	case 6:
		return ledger.Numeric("-12.5000000000")
	case 7:
		return ledger.Party([]string{"alice::1", "bob::2", ""}[r.IntN(3)])
	case 8:
		return ledger.Text([]string{"", "héllo", "x"}[r.IntN(3)])
	case 9:
		return ledger.ContractID("00cid")
	case 10:
		if r.IntN(2) == 0 {
			return ledger.None()
		}
		return ledger.Some(randomValue(r, depth-1))
	case 11:
		elems := make([]ledger.Value, r.IntN(4))
		for i := range elems {
			elems[i] = randomValue(r, depth-1)
		}
		return ledger.List(elems...)
	case 12:
		fs := make([]ledger.Field, r.IntN(4))
		for i := range fs {
			fs[i] = ledger.F([]string{"k", "", "ключ"}[r.IntN(3)], randomValue(r, depth-1))
		}
		return ledger.TextMap(fs...)
	case 13:
		es := make([]ledger.Entry, r.IntN(3))
		for i := range es {
			es[i] = ledger.Entry{Key: randomValue(r, depth-1), Value: randomValue(r, depth-1)}
		}
		return ledger.GenMap(es...)
	case 14:
		fs := make([]ledger.Field, r.IntN(5))
		for i := range fs {
			fs[i] = ledger.F([]string{"a", "", "owner"}[r.IntN(3)], randomValue(r, depth-1))
		}
		return ledger.Record(id, fs...)
	case 15:
		return ledger.Variant(id, "Ctor", randomValue(r, depth-1))
	default:
		return ledger.Enum(id, "Red")
	}
}

func TestWireDecodeRandomValues(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 2026))
	iface := ledger.MustParseIdentifier("ip:I.M:View")
	fellBack := 0
	for i := range 2000 {
		ev := &ledger.CreatedEvent{
			Offset: int64(i), NodeID: int32(i % 5), ContractID: "00c", TemplateID: ledger.MustParseIdentifier("p:M:T"),
			ContractKey: randomValue(r, 2), CreateArguments: ledger.Record(nil, ledger.F("x", randomValue(r, 4))),
			InterfaceViews: []ledger.InterfaceView{{InterfaceID: iface, Value: ledger.Record(nil, ledger.F("v", randomValue(r, 3))),
				StatusCode: int32(r.IntN(2)), StatusMessage: []string{"", "failed"}[r.IntN(2)]}},
			WitnessParties: []string{"a::1"}, CreatedAt: time.Unix(int64(r.Uint32()), int64(r.IntN(1e9))).UTC(),
		}
		if r.IntN(2) == 0 {
			ev.CreatedEventBlob = []byte{1, 2, 3}
			ev.InterfaceViews = nil
		}
		x := &ledger.ExercisedEvent{
			NodeID: 0, ContractID: "00x", TemplateID: ledger.MustParseIdentifier("p:M:T"), Choice: "Go",
			ChoiceArgument: randomValue(r, 5), ExerciseResult: randomValue(r, 5), LastDescendantNodeID: int32(r.IntN(3)),
		}
		if r.IntN(2) == 0 {
			x.InterfaceID = &iface
			x.ImplementedInterfaces = []ledger.Identifier{iface}
		}
		tx := &ledger.Transaction{UpdateID: "u", Offset: int64(i + 1), RecordTime: time.Unix(1, 0).UTC(), SynchronizerID: "s",
			Events: []ledger.Event{x, ev, &ledger.ArchivedEvent{ContractID: "00a", ImplementedInterfaces: []ledger.Identifier{iface}}}}
		if requireSame(t, marshal(t, txResponse(tx))) {
			fellBack++
		}
	}
	// Only values with a gen map entry lacking its key or value (the zero
	// Value encodes as nothing) take the reference path.
	require.Less(t, fellBack, 400, "most random transactions take the fast path")
}

// TestWireDecodeUnusualEncodings feeds messages the fast path leaves to the
// reference path, and malformed ones: the outcome must be the reference's.
func TestWireDecodeUnusualEncodings(t *testing.T) {
	base := corpus(t)[0]
	tx := ledger.Transaction{UpdateID: "u1", Offset: 5, RecordTime: time.Unix(100, 0).UTC(), SynchronizerID: "s", Events: []ledger.Event{
		&ledger.CreatedEvent{ContractID: "00c", TemplateID: ledger.MustParseIdentifier("p:M:T"), CreateArguments: ledger.Record(nil)}}}
	good := marshal(t, txResponse(&tx))

	appendField := func(b []byte, num protowire.Number, m proto.Message) []byte {
		inner, err := proto.Marshal(m)
		require.NoError(t, err)
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendBytes(b, inner)
	}
	txOnly := func(mod func(*pb.Transaction)) []byte {
		p := tx.Proto()
		mod(p)
		return marshal(t, &pb.GetUpdatesResponse{Update: &pb.GetUpdatesResponse_Transaction{Transaction: p}})
	}
	withDetails := txOnly(func(p *pb.Transaction) {
		any, _ := anypb.New(timestamppb.Now())
		p.Events[0].GetCreated().InterfaceViews = []*pb.InterfaceView{{ViewStatus: &status.Status{Code: 3, Details: []*anypb.Any{any}}}}
	})
	cases := map[string][]byte{
		"truncated":                 base[:len(base)/2],
		"garbage":                   []byte{0xff, 0xff, 0xff},
		"empty response":            {},
		"two transactions (merged)": append(append([]byte{}, good...), good...),
		"unknown top-level field":   protowire.AppendVarint(protowire.AppendTag(append([]byte{}, good...), 9, protowire.VarintType), 1),
		"checkpoint after a transaction": appendField(append([]byte{}, good...), 3,
			&pb.OffsetCheckpoint{Offset: 7}),
		"no update id":       txOnly(func(p *pb.Transaction) { p.UpdateId = "" }),
		"no record time":     txOnly(func(p *pb.Transaction) { p.RecordTime = nil }),
		"no synchronizer id": txOnly(func(p *pb.Transaction) { p.SynchronizerId = "" }),
		"NUL in update id":   txOnly(func(p *pb.Transaction) { p.UpdateId = "u\x001" }),
		"long update id":     txOnly(func(p *pb.Transaction) { p.UpdateId = strings.Repeat("u", ledger.MaxUpdateIDLength+1) }),
		"zero offset":        txOnly(func(p *pb.Transaction) { p.Offset = 0 }),
		"invalid UTF-8":      bytes.Replace(txOnly(func(p *pb.Transaction) { p.CommandId = "ZZcmd" }), []byte("ZZ"), []byte{0xff, 0xfe}, 1),
		"invalid UTF-8 in a shared string": bytes.Replace(txOnly(func(p *pb.Transaction) {
			p.Events[0].GetCreated().WitnessParties = []string{"ZZparty"}
		}), []byte("ZZ"), []byte{0xff, 0xfe}, 1),
		"event without kind": txOnly(func(p *pb.Transaction) { p.Events = append(p.Events, &pb.Event{}) }),
		"bad descendant": txOnly(func(p *pb.Transaction) {
			p.Events = append(p.Events, &pb.Event{Event: &pb.Event_Exercised{Exercised: &pb.ExercisedEvent{NodeId: 3, LastDescendantNodeId: 1}}})
		}),
		"status details":   withDetails,
		"empty blob field": txOnly(func(p *pb.Transaction) { p.Events[0].GetCreated().CreatedEventBlob = []byte{} }),
		"deep value": txOnly(func(p *pb.Transaction) {
			v := ledger.Unit()
			for range 150 {
				v = ledger.Some(v)
			}
			p.Events[0].GetCreated().ContractKey = v.Proto()
		}),
		"empty value and optional": txOnly(func(p *pb.Transaction) {
			p.Events[0].GetCreated().ContractKey = &pb.Value{Sum: &pb.Value_Optional{Optional: &pb.Optional{Value: &pb.Value{}}}}
		}),
		"gen map entry without key": txOnly(func(p *pb.Transaction) {
			p.Events[0].GetCreated().ContractKey = &pb.Value{Sum: &pb.Value_GenMap{GenMap: &pb.GenMap{Entries: []*pb.GenMap_Entry{{Value: &pb.Value{}}}}}}
		}),
		"reassignment": marshal(t, &pb.GetUpdatesResponse{Update: &pb.GetUpdatesResponse_Reassignment{Reassignment: &pb.Reassignment{}}}),
		"bad checkpoint": marshal(t, &pb.GetUpdatesResponse{Update: &pb.GetUpdatesResponse_OffsetCheckpoint{
			OffsetCheckpoint: &pb.OffsetCheckpoint{Offset: 3, SynchronizerTimes: []*pb.SynchronizerTime{{SynchronizerId: "s"}}}}}),
	}
	for name, b := range cases {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) { requireSame(t, b) })
	}
}

// FuzzWireDecode checks the fast path against the reference on arbitrary
// bytes: go test -run '^$' -fuzz FuzzWireDecode ./ledger/
func FuzzWireDecode(f *testing.F) {
	for _, b := range corpus(f)[:40] {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { requireSame(t, b) })
}

// BenchmarkDecodeTransfer decodes one 1-step token transfer as the update
// stream delivers it: the fast path against the reference path.
func BenchmarkDecodeTransfer(b *testing.B) {
	tx := ledgertest.TransferHistory{Treasury: "treasury::1220wire"}.Tx(1)
	tx.UpdateID, tx.Offset, tx.RecordTime, tx.SynchronizerID = "upd-1", 1, time.Unix(1800000000, 0).UTC(), "sync::1"
	msg := marshal(b, txResponse(tx))
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		d := ledger.NewWireDecoder() // one per stream
		for b.Loop() {
			if _, _, err, fellBack := d.Decode(msg); err != nil || fellBack {
				b.Fatal(err, fellBack)
			}
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			if _, _, err := reference(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Field numbers above 2^29-1 are invalid wire data, which proto.Unmarshal
// refuses: so must the fast path, at the top and inside the transaction.
func TestWireInvalidFieldNumber(t *testing.T) {
	tx := ledger.Transaction{UpdateID: "u1", Offset: 5, RecordTime: time.Unix(100, 0).UTC(), SynchronizerID: "s"}
	good := marshal(t, txResponse(&tx))
	var inner pb.Transaction
	require.NoError(t, proto.Unmarshal(marshal(t, txResponse(&tx))[2:], &inner)) // field 1, one length byte
	innerBytes, err := proto.Marshal(&inner)
	require.NoError(t, err)
	for _, num := range []protowire.Number{protowire.MaxValidNumber + 1, 1<<31 - 1} {
		top := protowire.AppendVarint(protowire.AppendTag(append([]byte{}, good...), num, protowire.VarintType), 1)
		requireSame(t, top)
		bad := protowire.AppendVarint(protowire.AppendTag(append([]byte{}, innerBytes...), num, protowire.VarintType), 1)
		nested := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), bad)
		requireSame(t, nested)
		_, uerr, _ := reference(nested)
		require.Error(t, uerr, "the reference refuses field %d", num)
	}
}

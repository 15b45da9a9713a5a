package ledger_test

import (
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// TestWireDecodeKeepsEarlierTransactions decodes a stream's messages with
// one decoder, keeping every result, through one reused buffer as the
// stream does: each transaction must still equal the reference's once
// all the later ones are decoded (nothing of one transaction is reused for
// the next).
func TestWireDecodeKeepsEarlierTransactions(t *testing.T) {
	msgs := corpus(t)
	d := ledger.NewWireDecoder()
	var buf []byte
	got := make([]ledger.Update, len(msgs))
	for i, b := range msgs {
		buf = append(buf[:0], b...)
		var err error
		got[i], _, err, _ = d.Decode(buf)
		require.NoError(t, err)
		clear(buf) // the frame buffer is reused: nothing may point into it
	}
	for i, b := range msgs {
		want, _, err := reference(b)
		require.NoError(t, err)
		if !reflect.DeepEqual(want, got[i]) {
			t.Fatalf("message %d changed after later ones were decoded:\nwant %#v\ngot  %#v", i, want.Transaction, got[i].Transaction)
		}
	}
}

// TestWireDecodeAppendDoesNotClobber appends to the slices of a decoded
// transaction, which share bigger slices with their neighbours: the
// neighbours must not change.
func TestWireDecodeAppendDoesNotClobber(t *testing.T) {
	msg := transferMsg(t)
	d := ledger.NewWireDecoder()
	for range 3 { // the later transactions' slabs are sized from the earlier ones
		u, _, err, fellBack := d.Decode(msg)
		require.NoError(t, err)
		require.False(t, fellBack)
		want, _, err := reference(msg)
		require.NoError(t, err)
		for _, ev := range u.Transaction.Events {
			switch e := ev.(type) {
			case *ledger.CreatedEvent:
				e.WitnessParties = append(e.WitnessParties, "x")
				e.Signatories = append(e.Signatories, "x")
				e.Observers = append(e.Observers, "x")
				e.InterfaceViews = append(e.InterfaceViews, ledger.InterfaceView{StatusMessage: "x"})
			case *ledger.ExercisedEvent:
				e.ActingParties = append(e.ActingParties, "x")
				e.WitnessParties = append(e.WitnessParties, "x")
				e.ImplementedInterfaces = append(e.ImplementedInterfaces, ledger.Identifier{PackageID: "x"})
			}
		}
		for i, ev := range u.Transaction.Events {
			switch e := ev.(type) {
			case *ledger.CreatedEvent:
				w := want.Transaction.Events[i].(*ledger.CreatedEvent)
				require.Equal(t, append(w.WitnessParties, "x"), e.WitnessParties)
				require.Equal(t, append(w.Signatories, "x"), e.Signatories)
				require.Equal(t, append(w.Observers, "x"), e.Observers)
				require.Equal(t, w.CreateArguments, e.CreateArguments)
				require.Equal(t, len(w.InterfaceViews)+1, len(e.InterfaceViews))
			case *ledger.ExercisedEvent:
				w := want.Transaction.Events[i].(*ledger.ExercisedEvent)
				require.Equal(t, append(w.ActingParties, "x"), e.ActingParties)
				require.Equal(t, append(w.WitnessParties, "x"), e.WitnessParties)
				require.Equal(t, w.ChoiceArgument, e.ChoiceArgument)
				require.Equal(t, w.ExerciseResult, e.ExerciseResult)
			}
		}
	}
}

// TestWireDecodeAllocs bounds the allocations of decoding a token transfer
// (BenchmarkDecodeTransfer): a transaction's values come from a few slabs,
// not one allocation each.
func TestWireDecodeAllocs(t *testing.T) {
	msg := transferMsg(t)
	d := ledger.NewWireDecoder()
	d.Decode(msg) // shares the strings, sizes the slabs
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err, fellBack := d.Decode(msg); err != nil || fellBack {
			t.Fatal(err, fellBack)
		}
	})
	require.LessOrEqual(t, allocs, 12.0)
}

// TestWireDecodeSharesRecordLabels: records with the same labels share one
// slice of them, across transactions, and the slices hold only shared
// strings, so they keep nothing of a transaction alive.
func TestWireDecodeSharesRecordLabels(t *testing.T) {
	d := ledger.NewWireDecoder()
	args := func(b []byte) ledger.Value {
		u, _, err, fellBack := d.Decode(b)
		require.NoError(t, err)
		require.False(t, fellBack)
		want, _, err := reference(b)
		require.NoError(t, err)
		require.Equal(t, want, u, "as the reference decodes it")
		for _, ev := range u.Transaction.Events {
			if c, ok := ev.(*ledger.CreatedEvent); ok {
				return c.CreateArguments
			}
		}
		t.Fatal("no created event")
		return ledger.Value{}
	}
	first, second := args(transferMsg(t)), args(transferMsg(t))
	require.Positive(t, first.NumFields())
	require.Same(t, ledger.RecordLabelsData(first), ledger.RecordLabelsData(second))

	labels, shared := d.LabelStrings()
	require.NotEmpty(t, labels)
	for _, l := range labels {
		require.True(t, l == "" || shared[unsafe.StringData(l)], "label %q is not one of the shared strings", l)
	}
}

// TestWireDecodeLabelsNotSharedWhenFull: a decoder that can share no more
// strings shares no label lists either, since they would hold strings of a
// transaction.
func TestWireDecodeLabelsNotSharedWhenFull(t *testing.T) {
	d := ledger.NewWireDecoderFull()
	var data []*string
	for range 2 {
		u, _, err, fellBack := d.Decode(transferMsg(t))
		require.NoError(t, err)
		require.False(t, fellBack)
		for _, ev := range u.Transaction.Events {
			if c, ok := ev.(*ledger.CreatedEvent); ok {
				data = append(data, ledger.RecordLabelsData(c.CreateArguments))
				break
			}
		}
	}
	require.Len(t, data, 2)
	require.NotSame(t, data[0], data[1])
	labels, _ := d.LabelStrings()
	require.Empty(t, labels)
}

func transferMsg(t testing.TB) []byte {
	tx := ledgertest.TransferHistory{Treasury: "treasury::1220wire"}.Tx(1)
	tx.UpdateID, tx.Offset, tx.RecordTime, tx.SynchronizerID = "upd-1", 1, time.Unix(1800000000, 0).UTC(), "sync::1"
	return marshal(t, txResponse(tx))
}

// TestWireDecodeNothingShared decodes the corpus with a decoder that can
// share no more strings, so that every string comes from a transaction's
// slab: the results must be the reference's, and none of the strings the
// decoder keeps from one transaction to the next (the type ids it caches)
// may lie among a transaction's strings, in its slab.
func TestWireDecodeNothingShared(t *testing.T) {
	d := ledger.NewWireDecoderFull()
	before := d.KeptStrings()
	msgs := corpus(t)
	got := make([]ledger.Update, len(msgs))
	for i, b := range msgs {
		var err error
		var fellBack bool
		got[i], _, err, fellBack = d.DecodeInOneChunk(b)
		require.NoError(t, err)
		require.False(t, fellBack)
	}
	type span struct{ lo, hi uintptr }
	var spans []span
	for i, b := range msgs {
		want, _, err := reference(b)
		require.NoError(t, err)
		if !reflect.DeepEqual(want, got[i]) {
			t.Fatalf("message %d decodes differently:\nwant %#v\ngot  %#v", i, want.Transaction, got[i].Transaction)
		}
		tx := got[i].Transaction
		if tx == nil {
			continue
		}
		sp := span{lo: ^uintptr(0)}
		add := func(s string) {
			if s != "" {
				p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
				sp.lo, sp.hi = min(sp.lo, p), max(sp.hi, p+uintptr(len(s)))
			}
		}
		for _, ev := range tx.Events {
			id := ev.Template()
			for _, s := range []string{ev.Contract(), id.PackageID, id.ModuleName, id.EntityName} {
				add(s)
			}
			switch e := ev.(type) {
			case *ledger.CreatedEvent:
				eachString(e.CreateArguments, add)
				eachString(e.ContractKey, add)
			case *ledger.ExercisedEvent:
				eachString(e.ChoiceArgument, add)
				eachString(e.ExerciseResult, add)
			}
		}
		if sp.hi > sp.lo {
			spans = append(spans, sp)
		}
	}
	require.NotEmpty(t, spans)
	for p := range d.KeptStrings() {
		if before[p] {
			continue
		}
		for _, sp := range spans {
			if a := uintptr(unsafe.Pointer(p)); a >= sp.lo && a < sp.hi {
				t.Fatalf("the decoder keeps a string among a transaction's")
			}
		}
	}
}

// eachString calls fn with v's labels, keys, constructors and texts (not
// its type ids: the decoder shares those).
func eachString(v ledger.Value, fn func(string)) {
	switch v.Kind() {
	case ledger.KindRecord, ledger.KindTextMap:
		var fs []ledger.Field
		if v.Kind() == ledger.KindRecord {
			fs, _ = v.AsRecord()
		} else {
			fs, _ = v.AsTextMap()
		}
		for _, f := range fs {
			fn(f.Label)
			eachString(f.Value, fn)
		}
	case ledger.KindList:
		l, _ := v.AsList()
		for _, e := range l {
			eachString(e, fn)
		}
	case ledger.KindOptional:
		if e, ok, _ := v.AsOptional(); ok {
			eachString(e, fn)
		}
	case ledger.KindVariant:
		c, e, _ := v.AsVariant()
		fn(c)
		eachString(e, fn)
	case ledger.KindEnum:
		c, _ := v.AsEnum()
		fn(c)
	case ledger.KindText:
		s, _ := v.AsText()
		fn(s)
	case ledger.KindParty:
		s, _ := v.AsParty()
		fn(s)
	case ledger.KindContractID:
		s, _ := v.AsContractID()
		fn(s)
	case ledger.KindNumeric:
		s, _ := v.AsNumeric()
		fn(s)
	}
}

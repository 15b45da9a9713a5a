package tokenstd_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	pb "github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// fuzzSeedTransactions are the golden fixtures' transactions and a demo
// history, as the treasury receives them.
func fuzzSeedTransactions(tb testing.TB) []*ledger.Transaction {
	tb.Helper()
	var out []*ledger.Transaction
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		var g goldenFile
		if err := json.Unmarshal(data, &g); err != nil {
			tb.Fatal(err)
		}
		for _, raw := range g.Steps {
			var s goldenStepRaw
			if err := json.Unmarshal(raw, &s); err != nil {
				tb.Fatal(err)
			}
			var p pb.Transaction
			if err := protojson.Unmarshal(s.Transaction, &p); err != nil {
				tb.Fatal(err)
			}
			tx, err := ledger.TransactionFromProto(&p)
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, tx)
		}
	}
	d := (&ledgertest.TokenWorld{Sequence: true}).DemoHistory(treasury, 60)
	for _, tx := range d.Transactions {
		if v := ledgertest.TokenProjection(tx, treasury); v != nil {
			out = append(out, v)
		}
	}
	return out
}

// decodeAll runs every decoder on v; none may panic.
func decodeAll(v ledger.Value) {
	_, _ = tokenstd.DecodeMetadata(v)
	_, _ = tokenstd.DecodeInstrumentID(v)
	_, _ = tokenstd.DecodeLock(v)
	_, _ = tokenstd.DecodeHoldingView(v)
	_, _ = tokenstd.DecodeTransfer(v)
	_, _ = tokenstd.DecodeExtraArgs(v)
	_, _ = tokenstd.DecodeTransferInstructionView(v)
	_, _ = tokenstd.DecodeTransferInstructionResult(v)
	_, _ = tokenstd.DecodeTransferFactoryTransfer(v)
	for _, c := range []string{tokenstd.ChoiceInstructionAccept, tokenstd.ChoiceInstructionReject,
		tokenstd.ChoiceInstructionWithdraw, tokenstd.ChoiceInstructionUpdate, "Other"} {
		_, _ = tokenstd.DecodeInstructionChoice(c, v)
		_, _ = tokenstd.MergedMetadata(&ledger.ExercisedEvent{Choice: c, ChoiceArgument: v, ExerciseResult: v})
	}
	_, _ = tokenstd.MergedMetadata(&ledger.ExercisedEvent{Choice: tokenstd.ChoiceTransferFactoryTransfer, ChoiceArgument: v, ExerciseResult: v})
}

// FuzzDecodeValue feeds arbitrary wire values to the decoders. Seeds are
// the views, arguments and results of real-looking transactions.
func FuzzDecodeValue(f *testing.F) {
	for _, tx := range fuzzSeedTransactions(f) {
		for _, ev := range tx.Events {
			var vs []ledger.Value
			switch e := ev.(type) {
			case *ledger.CreatedEvent:
				for _, iv := range e.InterfaceViews {
					vs = append(vs, iv.Value)
				}
			case *ledger.ExercisedEvent:
				vs = append(vs, e.ChoiceArgument, e.ExerciseResult)
			}
			for _, v := range vs {
				if p := v.Proto(); p != nil {
					data, err := proto.Marshal(p)
					if err != nil {
						f.Fatal(err)
					}
					f.Add(data)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p pb.Value
		if err := proto.Unmarshal(data, &p); err != nil {
			return
		}
		v, err := ledger.ValueFromProto(&p)
		if err != nil {
			return
		}
		decodeAll(v)
		if h, err := tokenstd.DecodeHoldingView(v); err == nil && h.Amount.IsNegative() {
			t.Fatalf("decoded a negative holding amount %s", h.Amount)
		}
	})
}

// FuzzClassify feeds arbitrary wire transactions to the classifier, with a
// holding set that knows some treasury holdings. It must never panic; an
// error must be a *ParseError naming the transaction; entries must add up.
func FuzzClassify(f *testing.F) {
	seeds := fuzzSeedTransactions(f)
	for _, tx := range seeds {
		data, err := proto.Marshal(tx.Proto())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	// The holdings of the seeds, so that archives resolve.
	known := tokenstd.NewHoldingSet()
	for _, tx := range seeds {
		if es, err := tokenstd.Classify(tx, treasury, known); err == nil {
			for i := range es {
				es[i].Archived = nil
			}
			known.Apply(es)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p pb.Transaction
		if err := proto.Unmarshal(data, &p); err != nil {
			return
		}
		tx, err := ledger.TransactionFromProto(&p)
		if err != nil {
			return
		}
		entries, err := tokenstd.Classify(tx, treasury, known)
		if err != nil {
			var pe *tokenstd.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *ParseError: %v", err)
			}
			if pe.UpdateID != tx.UpdateID || pe.Offset != tx.Offset {
				t.Fatalf("error names update %s offset %d, want %s %d", pe.UpdateID, pe.Offset, tx.UpdateID, tx.Offset)
			}
			return
		}
		if !slices.IsSortedFunc(entries, func(a, b tokenstd.Entry) int { return int(a.NodeID) - int(b.NodeID) }) {
			t.Fatal("entries not in node order")
		}
		for _, e := range entries {
			if !slices.Contains(tokenstd.Kinds(), e.Kind) {
				t.Fatalf("unknown kind %q", e.Kind)
			}
			var net decimal.Decimal
			for _, h := range e.Created {
				net = net.Add(h.Amount)
				if h.Owner != treasury {
					t.Fatalf("entry lists a holding of %s", h.Owner)
				}
			}
			for _, h := range e.Archived {
				net = net.Sub(h.Amount)
			}
			if !net.Equal(e.Amount) {
				t.Fatalf("entry amount %s, holdings say %s", e.Amount, net)
			}
			if e.Kind == tokenstd.KindWithdrawal && !e.Amount.Equal(e.Transferred.Add(e.Fee).Neg()) {
				t.Fatalf("withdrawal amount %s != -(%s + %s)", e.Amount, e.Transferred, e.Fee)
			}
		}
		// Classifying is deterministic.
		again, err := tokenstd.Classify(tx, treasury, known)
		if err != nil || len(again) != len(entries) {
			t.Fatalf("second classification differs: %v, %d entries vs %d", err, len(again), len(entries))
		}
	})
}

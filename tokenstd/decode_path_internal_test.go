package tokenstd

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
)

// A path is spelled out as the labels joined with joinPath.
func TestPathString(t *testing.T) {
	for _, labels := range [][]string{
		nil,
		{"a"},
		{"a", "b", "c"},
		{"", "b"},
		{"a", ""},
		{"a", "", "c"},
		{"", ""},
	} {
		var p *path
		want := ""
		for _, l := range labels {
			p = &path{p, l}
			want = joinPath(want, l)
		}
		if got := p.String(); got != want {
			t.Errorf("path %q spells %q, want %q", labels, got, want)
		}
	}
}

// Reading a well-formed value builds no path strings, however deep it sits:
// the paths stay in the decoders' stack frames until an error names one.
func TestReaderPathsCostNothing(t *testing.T) {
	id := func(module, entity string) *ledger.Identifier {
		return &ledger.Identifier{PackageID: "pkg", ModuleName: module, EntityName: entity}
	}
	inst := ledger.Record(id(ModuleHolding, "InstrumentId"),
		ledger.F("admin", ledger.Party("admin::1")), ledger.F("id", ledger.Text("Amulet")))
	view := ledger.Record(id(ModuleHolding, "HoldingView"),
		ledger.F("owner", ledger.Party("owner::1")),
		ledger.F("instrumentId", inst),
		ledger.F("amount", ledger.Numeric("10.5")),
		ledger.F("lock", ledger.None()),
		ledger.F("meta", ledger.Record(id(ModuleMetadata, "Metadata"),
			ledger.F("values", ledger.TextMap(ledger.F("k", ledger.Text("v")))))))
	deep := &path{&path{&path{nil, "a"}, "b"}, "c"}

	if n := testing.AllocsPerRun(100, func() {
		var r reader
		r.instrument(inst, deep)
		if r.err != nil {
			t.Fatal(r.err)
		}
	}); n != 0 {
		t.Errorf("reading an InstrumentId allocates %v times, want 0", n)
	}

	allocs := func(at *path) float64 {
		return testing.AllocsPerRun(100, func() {
			var r reader
			r.holdingView(view, at)
			if r.err != nil {
				t.Fatal(r.err)
			}
		})
	}
	if root, nested := allocs(nil), allocs(deep); nested != root {
		t.Errorf("reading a HoldingView allocates %v times at the root and %v times at %s", root, nested, deep)
	}

	var r reader
	r.instrument(ledger.Record(id(ModuleHolding, "InstrumentId"),
		ledger.F("admin", ledger.Party("")), ledger.F("id", ledger.Text("Amulet"))), deep)
	if want := "ledger: value at a.b.c.admin: empty party"; r.err == nil || r.err.Error() != want {
		t.Errorf("error %v, want %s", r.err, want)
	}
}

package tokenstd

import (
	"regexp"
	"testing"
)

// The hand-written matcher agrees with the regular expression it replaced.
func TestIsTokenStandardModuleMatchesRegexp(t *testing.T) {
	re := regexp.MustCompile(`^Splice\.Api\.Token\.[A-Za-z]+V([0-9]+)$`)
	check := func(module string) {
		m := re.FindStringSubmatch(module)
		wantStd, wantSup := m != nil, m != nil && m[1] == "1"
		if std, sup := IsTokenStandardModule(module); std != wantStd || sup != wantSup {
			t.Errorf("IsTokenStandardModule(%q) = %v, %v; the regexp says %v, %v", module, std, sup, wantStd, wantSup)
		}
	}
	alphabet := []string{"V", "a", "Z", "1", "0", ".", "_", "é", "\xff"}
	var gen func(name string, depth int)
	gen = func(name string, depth int) {
		check("Splice.Api.Token." + name)
		if depth == 0 {
			return
		}
		for _, a := range alphabet {
			gen(name+a, depth-1)
		}
	}
	gen("", 5)
	for _, m := range []string{ModuleHolding, ModuleMetadata, ModuleTransferInstruction, "Splice.Api.Token.HoldingV2",
		"Splice.Api.Token.HoldingV10", "Splice.Api.Token.V1", "splice.Api.Token.HoldingV1", "Splice.Api.Token.HoldingV1 ",
		"Splice.Api.TokenXHoldingV1", "DA.Time.Types", ""} {
		check(m)
	}
}

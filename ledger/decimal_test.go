package ledger

import (
	"regexp"
	"testing"
)

// The hand-written matcher agrees with the regular expression it replaced.
func TestIsDecimalTextMatchesRegexp(t *testing.T) {
	re := regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
	alphabet := []string{"", "-", "0", "7", ".", "a", " ", "+", "e", "٣", "\xff"}
	var gen func(prefix string, depth int)
	gen = func(prefix string, depth int) {
		if got, want := isDecimalText(prefix), re.MatchString(prefix); got != want {
			t.Errorf("isDecimalText(%q) = %v, the regexp says %v", prefix, got, want)
		}
		if depth == 0 {
			return
		}
		for _, a := range alphabet[1:] {
			gen(prefix+a, depth-1)
		}
	}
	gen("", 5)
	for _, s := range []string{"12.3400000000", "-0.5", "100", "1.", ".5", "--1", "1.2.3", "0x10", "1e5"} {
		if got, want := isDecimalText(s), re.MatchString(s); got != want {
			t.Errorf("isDecimalText(%q) = %v, the regexp says %v", s, got, want)
		}
	}
}

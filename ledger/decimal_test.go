package ledger

import (
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// The hand-written matcher agrees with the regular expression it replaced.
func TestIsDecimalTextMatchesRegexp(t *testing.T) {
	re := regexp.MustCompile(`^-?[0-9]+(\.[0-9]*)?$`)
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

// The amounts of a transfer: a holding's, a transfer's and a fee's as the
// ledger renders them (scale 10), one with more digits than an int64 holds.
var benchDecimals = []string{"100.0000000000", "12.3400000000", "0.0000000001", "-5.5000000000", "12345678901234567890123456.7890123456"}

func BenchmarkParseDecimal(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range benchDecimals {
			if _, err := ParseDecimal(s); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// The one-pass reading of short amounts gives what the general path gives,
// down to the representation testify's Equal compares, and leaves every
// other text to it.
func TestParseShortDecimalAgrees(t *testing.T) {
	texts := []string{"0", "-0", "00", "-0.0", "0.0000000000", "7", "-7", "007.10", "1.5", "-0.0000000001",
		"100.0000000000", "12.3400000000", "99999999.9999999999", "-99999999.9999999999", "999999999999999999",
		"-999999999999999999", "-000000000000000000", "000000000000000001", "1000000000000000000",
		"9223372036854775807", "12345678901234567890123456.7890123456",
		"", "-", ".", "-.", "1.", ".5", "-.5", "1..2", "1.2.3", "+1", "1e5", " 1", "1 ", "--1", "0x10", "1,5", "NaN"}
	rng := rand.New(rand.NewPCG(20261205, 1))
	for range 20000 {
		b := make([]byte, 0, 24)
		if rng.IntN(3) == 0 {
			b = append(b, '-')
		}
		for range 1 + rng.IntN(20) {
			b = append(b, "0123456789"[rng.IntN(10)])
		}
		if rng.IntN(2) == 0 {
			b = append(b, '.')
			for range rng.IntN(12) {
				b = append(b, "0123456789"[rng.IntN(10)])
			}
		}
		texts = append(texts, string(b))
	}
	short := 0
	for _, s := range texts {
		got, gotErr := ParseDecimal(s)
		want, wantErr := decimal.NewFromString(s)
		if !isDecimalText(s) {
			if gotErr == nil {
				t.Errorf("ParseDecimal(%q) accepted malformed text as %s", s, got)
			}
			continue
		}
		require.NoError(t, wantErr, s)
		require.NoError(t, gotErr, s)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ParseDecimal(%q) = %#v, decimal.NewFromString gives %#v", s, got, want)
		}
		if _, ok := parseShortDecimal(s); ok {
			short++
		}
	}
	require.Greater(t, short, 5000, "the short path took too few texts to be checked")
}

// FuzzParseDecimal holds ParseDecimal to the general path on any text: what
// the short path accepts, decimal.NewFromString reads to the same Decimal;
// what is not a Daml numeric's text is refused.
//
//	go test -run '^$' -fuzz FuzzParseDecimal ./ledger/
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "-0.5", "100.0000000000", "99999999.9999999999", "-999999999999999999",
		"1000000000000000000", "12345678901234567890123456.7890123456", "1.", ".5", "1e5", "-", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseDecimal(s)
		_, frac, _ := strings.Cut(s, ".")
		if !isDecimalText(s) || significantDigits(s) > MaxNumericDigits || len(frac) > MaxNumericScale {
			if err == nil {
				t.Fatalf("ParseDecimal(%q) accepted it as %s", s, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseDecimal(%q): %v", s, err)
		}
		want, err := decimal.NewFromString(s)
		if err != nil {
			t.Fatalf("decimal.NewFromString(%q): %v", s, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ParseDecimal(%q) = %#v, decimal.NewFromString gives %#v", s, got, want)
		}
	})
}

// A Daml Numeric has at most 37 digits after the point: leading zeros
// there count, though they are not significant.
func TestParseDecimalScale(t *testing.T) {
	_, err := ParseDecimal("0." + strings.Repeat("0", 36) + "5")
	require.NoError(t, err)
	for _, s := range []string{"0." + strings.Repeat("0", 37) + "5", "0." + strings.Repeat("0", 17000) + "1", "-0." + strings.Repeat("0", 38)} {
		_, err := ParseDecimal(s)
		require.ErrorContains(t, err, "more than 37 digits after the point", s[:20])
	}
}

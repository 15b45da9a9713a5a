package nilcheck

import "testing"

type fn func()

func TestHolds(t *testing.T) {
	var p *int
	var f fn
	for _, c := range []struct {
		v    any
		want bool
	}{{nil, false}, {p, true}, {f, true}, {new(int), false}, {fn(func() {}), false}, {3, false}, {[]int(nil), false}} {
		if got := Holds(c.v); got != c.want {
			t.Errorf("Holds(%#v) = %t, want %t", c.v, got, c.want)
		}
	}
}

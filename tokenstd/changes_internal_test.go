package tokenstd

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestChangesManyInstruments checks the instrument index of changes on
// both sides of smallChanges: each instrument keeps its own change, in the
// order first seen, and take removes exactly the one asked for.
func TestChangesManyInstruments(t *testing.T) {
	for _, n := range []int{1, smallChanges, smallChanges + 1, 3 * smallChanges} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var cs changes
			inst := func(i int) Instrument { return Instrument{Admin: "registry::1220r", ID: fmt.Sprintf("TOK%d", i)} }
			made := map[Instrument]*change{}
			for round := range 2 { // the second round finds what the first made
				for i := range n {
					c := cs.of(inst(i))
					if round == 0 {
						made[inst(i)] = c
						c.created = append(c.created, Holding{ContractID: fmt.Sprint(i)})
					}
					require.Same(t, made[inst(i)], c, "instrument %d", i)
				}
			}
			require.Len(t, cs.order, n)
			require.Equal(t, n > smallChanges, cs.index != nil, "index built only beyond smallChanges")
			require.Nil(t, cs.take(Instrument{Admin: "registry::1220r", ID: "absent"}))

			mid := n / 2
			c := cs.take(inst(mid))
			require.Same(t, made[inst(mid)], c)
			require.Nil(t, cs.take(inst(mid)), "taken twice")
			require.Len(t, cs.order, n-1)
			for j, got := range cs.order {
				want := j
				if j >= mid {
					want = j + 1
				}
				require.Equal(t, inst(want), got)
				require.Same(t, made[got], cs.byOrder[j])
				require.Same(t, made[got], cs.of(got), "after take")
			}
			fresh := cs.of(inst(mid))
			require.Empty(t, fresh.created, "a taken instrument starts a new change")
			require.Equal(t, inst(mid), cs.order[len(cs.order)-1])
		})
	}
}

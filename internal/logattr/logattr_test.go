package logattr

import (
	"reflect"
	"testing"
	"time"
)

func TestLeftOutWhileUnknown(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		got, want []any
	}{
		{Time("tsafe", time.Time{}), nil},
		{Time("tsafe", at), []any{"tsafe", at}},
		{Text("update_id", ""), nil},
		{Text("update_id", "tx-1"), []any{"update_id", "tx-1"}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("got %v, want %v", c.got, c.want)
		}
	}
}

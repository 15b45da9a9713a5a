package logattr

import (
	"reflect"
	"testing"
	"time"
)

func TestKnownLeavesOutUnknownValues(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		got, want []any
	}{
		{Known("tsafe", time.Time{}), []any{}},
		{Known("tsafe", at), []any{"tsafe", at}},
		{Known("offset", int64(0), "update_id", "", "record_time", time.Time{}, "transactions", 0),
			[]any{"offset", int64(0), "transactions", 0}},
		{Known("update_id", "tx-1", "record_time", at), []any{"update_id", "tx-1", "record_time", at}},
		{Known("reason", "", "lone"), []any{"lone"}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("got %#v, want %#v", c.got, c.want)
		}
	}
}

// Package logattr leaves out of a log line the attributes whose value is
// not known yet.
package logattr

import "time"

// Known returns the key-value pairs of kv, as a slog call takes them, but
// for those whose value is unknown: an empty string or a zero time.Time. A
// line reading update_id="" record_time=0001-01-01T00:00:00Z sends an
// operator looking for a fault where there is only nothing ingested yet.
func Known(kv ...any) []any {
	out := kv[:0:0]
	for i := 0; i+1 < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case string:
			if v == "" {
				continue
			}
		case time.Time:
			if v.IsZero() {
				continue
			}
		}
		out = append(out, kv[i], kv[i+1])
	}
	if len(kv)%2 == 1 { // a lone key, as slog would show it
		out = append(out, kv[len(kv)-1])
	}
	return out
}

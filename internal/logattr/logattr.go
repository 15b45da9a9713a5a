// Package logattr builds log attributes that are left out while their
// value is unknown.
package logattr

import "time"

// Time returns the key-value pair key, t for a slog call, or none while t
// is unknown (zero): a line reading 0001-01-01T00:00:00Z sends an operator
// looking for a clock fault.
func Time(key string, t time.Time) []any {
	if t.IsZero() {
		return nil
	}
	return []any{key, t}
}

// Text returns the key-value pair key, s for a slog call, or none while s
// is empty.
func Text(key, s string) []any {
	if s == "" {
		return nil
	}
	return []any{key, s}
}

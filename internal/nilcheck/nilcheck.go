// Package nilcheck finds the nil hidden in a non-nil interface value.
package nilcheck

import "reflect"

// Holds reports whether v, not nil itself, holds a nil pointer or func: a
// *T from a constructor whose error was ignored, or a FooFunc(nil). Such
// a value passes a v == nil check and panics at its first use.
func Holds(v any) bool {
	if v == nil {
		return false
	}
	rv := reflect.ValueOf(v)
	return (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Func) && rv.IsNil()
}

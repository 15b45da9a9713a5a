// Package ctxerr says that a context ended in the error of a statement it
// cut short.
package ctxerr

import (
	"context"
	"errors"
	"fmt"
)

// Wrap returns err, wrapping ctx's error too when ctx has ended: a
// statement cut short by ctx fails with the driver's words ("canceling
// statement due to user request", "bad connection"), which errors.Is does
// not take for the context's end, and a caller must tell a deadline or a
// shutdown from a database fault.
func Wrap(ctx context.Context, err error) error {
	if cerr := ctx.Err(); err != nil && cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", err, cerr)
	}
	return err
}

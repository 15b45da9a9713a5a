package recovery_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cantonx/txhistory/recovery"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// CheckStopped is step 1 of the runbook, which an operator's tool may call
// with the *sqlx.DB of an open whose error it ignored. Plan, Packages and
// Apply refuse a nil database; CheckStopped panicked at its BeginTxx.
func TestRV146CheckStoppedNilDatabase(t *testing.T) {
	var db *sqlx.DB
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return recovery.CheckStopped(context.Background(), db, "")
	}()
	require.EqualError(t, err, "recovery: nil database")
}

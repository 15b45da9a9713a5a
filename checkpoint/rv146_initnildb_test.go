package checkpoint_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// Init takes a *sqlx.DB, as schema.Migrate and withdrawal.NewStore do,
// which refuse a nil one (the database of an open whose error was
// ignored). Init began a transaction on it and panicked.
func TestRV146InitNilDatabase(t *testing.T) {
	s, err := checkpoint.NewStore("txhistory")
	require.NoError(t, err)
	var db *sqlx.DB
	err = func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		_, err = s.Init(context.Background(), db, 0, "a::1")
		return err
	}()
	require.EqualError(t, err, "checkpoint: init: nil database")
}

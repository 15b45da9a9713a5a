// Package pgsetting turns PostgreSQL settings off for a part of a
// transaction, and sets them back to what they were: a DBA's timeouts of
// the role or database (lock_timeout, statement_timeout,
// idle_in_transaction_session_timeout) around a wait that only the
// caller's context should bound.
package pgsetting

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Off reads the values the named settings have in tx, sets each to 0 for
// the rest of tx (set_config's is_local: nothing outlives tx), and returns
// the function that sets them back to those values. After an error, tx
// may be aborted, or its settings left off: the caller rolls it back.
func Off(ctx context.Context, tx sqlx.ExtContext, names ...string) (restore func(context.Context) error, err error) {
	list := strings.Join(names, ", ")
	var values []string
	if err := sqlx.SelectContext(ctx, tx, &values,
		`SELECT current_setting(n) FROM unnest($1::text[]) WITH ORDINALITY AS s(n, i) ORDER BY i`, pq.Array(names)); err != nil {
		return nil, fmt.Errorf("reading %s: %w", list, err)
	}
	if _, err := tx.ExecContext(ctx, `SELECT set_config(n, '0', true) FROM unnest($1::text[]) AS n`, pq.Array(names)); err != nil {
		return nil, fmt.Errorf("turning %s off: %w", list, err)
	}
	return func(ctx context.Context) error {
		if _, err := tx.ExecContext(ctx, `SELECT set_config(n, v, true) FROM unnest($1::text[], $2::text[]) AS s(n, v)`,
			pq.Array(names), pq.Array(values)); err != nil {
			return fmt.Errorf("setting %s back to %s: %w", list, strings.Join(values, ", "), err)
		}
		return nil
	}, nil
}

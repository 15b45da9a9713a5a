package withdrawal_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// An Automation whose connection string net/url cannot parse (a password
// with an unencoded "/") fails every round with an error quoting it. The
// line Run logs for each failed round must not carry the password.
func TestSecAutomationLogWithholdsUnparsableDSN(t *testing.T) {
	db, err := sqlx.Open("postgres", "postgres://txuser:S3cr/etPw@127.0.0.1:1/db?sslmode=disable")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: "treasury::1220", Logger: log})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rounds := 0
	auto, err := withdrawal.NewAutomation(store, withdrawal.AutomationConfig{
		Submitter:    withdrawal.SubmitFunc(func(context.Context, *withdrawal.Withdrawal) error { return nil }),
		PollInterval: time.Millisecond,
		OnRound: func(withdrawal.Round) {
			if rounds++; rounds == 2 {
				cancel()
			}
		},
	})
	require.NoError(t, err)
	require.ErrorIs(t, auto.Run(ctx), context.Canceled)
	require.Contains(t, logs.String(), "automation round failed")
	require.NotContains(t, logs.String(), "S3cr")
	require.NotContains(t, logs.String(), "etPw")
}

// The same for the Integration DB restore procedure: what it logs and
// reports as progress must not carry the password.
func TestSecRestoreProcedureWithholdsUnparsableDSN(t *testing.T) {
	db, err := sqlx.Open("postgres", "postgres://txuser:S3cr/etPw@127.0.0.1:1/db?sslmode=disable")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: "treasury::1220", Logger: log})
	require.NoError(t, err)
	var progress []string
	_, err = withdrawal.RestoreProcedure{Store: store, TTL: time.Hour,
		Progress: func(p withdrawal.RestoreProgress) { progress = append(progress, p.Message) }}.Run(context.Background())
	require.Error(t, err)
	require.Contains(t, logs.String(), "FAILED")
	require.NotContains(t, logs.String(), "S3cr")
	require.NotContains(t, logs.String(), "etPw")
	for _, m := range progress {
		require.NotContains(t, m, "S3cr")
	}
}
